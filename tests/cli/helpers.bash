# helpers.bash — shared by every bats suite (each loads it with `load helpers`):
# the paths the suites use, the checks for required tools, and the
# procedures several suites repeat (a server on an ephemeral port and
# stopping it, the owner's key, a slice of the held-out digits, cbd-run's
# labels, a value from a JSON file, attr-sim's case), written once.
#
# Loaded at the top of a suite, so the variables are set in setup_file,
# setup, every test and teardown alike.  The functions work in the current
# directory, as the commands they stand for would.

# Debian's Python (the suites' checks use its numpy, onnx and cryptography).
PY=/usr/bin/python3
# The bundled classifier and its held-out digits (uint8 [2000,1,28,28]) and
# labels, and the test tool that writes archives by hand (tests/helpers).
MODEL="$CBD_TOP/models/mnist-cnn.onnx"
DIGITS="$CBD_TOP/models/mnist-heldout-images.npy"
LABELS="$CBD_TOP/models/mnist-heldout-labels.npy"
MK="$CBD_BUILD/tests/cbd_mkarchive"
# The independent Python reference implementation (tests/reference).
REF="$PY $CBD_TOP/tests/reference/cbd_reference.py"
# node's modules folder with onnxruntime-node (tools/deps.sh installs it).
ORT_MODULES="$CBD_TOP/build/ort/node_modules"

# need CMD PACKAGE: fail the test, naming the Debian package, when CMD is
# missing.  A missing tool is an install step the project forgot (make deps
# installs tools/debian-packages.txt), never a reason to skip.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "missing command $1: Debian package $2 (tools/debian-packages.txt, make deps)" >&2
	return 1
}

# need_py MODULE PACKAGE: the same for a module of Debian's python3.
need_py() {
	$PY -c "import $1" 2>/dev/null && return 0
	echo "missing python3 module $1: Debian package $2 (tools/debian-packages.txt, make deps)" >&2
	return 1
}

# need_ort: ONNX Runtime for node, which tools/deps.sh installs into build/ort.
need_ort() {
	need node nodejs || return 1
	NODE_PATH="$ORT_MODULES" node -e "require('onnxruntime-node')" 2>/dev/null && return 0
	echo "missing npm package onnxruntime-node in build/ort (tools/deps.sh, make deps)" >&2
	return 1
}

# use_ort: need_ort, then NODE_PATH for the node helpers that run ORT.
use_ort() {
	need_ort || return 1
	export NODE_PATH="$ORT_MODULES"
}

# wait_port FILE [PID]: print the port a server started with a port file
# FILE (cbd-serve --port 0 --port-file FILE, the test peers) listens on,
# once it has written it; fail after 60 s, or as soon as process PID has
# exited.  They write it once they listen (cbd-serve and the Python peers by
# a rename, kserve_ort.js in one short write), so a port read is a live
# socket.
wait_port() {
	for _ in $(seq 1200); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			echo "no port in $1: process $2 exited" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "no port in $1 after 60 s" >&2
	return 1
}

# start_server ARG...: cbd-serve ARG... on a free loopback port in the
# background, its log in serve.log; returns once it listens, with SERVER
# (its pid), PORT and URL (http://127.0.0.1:PORT) set.  A server that does
# not start fails the caller with its log.  Environment assignments before
# the call (CBD_MAX_GMAC=1 start_server ...) reach the server.
start_server() {
	rm -f port
	cbd-serve --port 0 --port-file port "$@" 2>serve.log &
	SERVER=$!
	PORT=$(wait_port port "$SERVER") || { cat serve.log >&2; return 1; }
	URL="http://127.0.0.1:$PORT"
}

# stop PID...: end each process (empty arguments ignored) and reap it, so
# that nothing of a test outlives it.  Fails when one had already exited: a
# server that died under a test is a failure (a teardown that only cleans
# up says `stop ... 2>/dev/null || true`).
stop() {
	local p rc=0

	for p in "$@"; do
		[ -n "$p" ] || continue
		kill "$p" || rc=1
		wait "$p" 2>/dev/null || true
	done
	return $rc
}

# stop_server: stop the server start_server started, if any, as stop does.
stop_server() {
	local s=${SERVER:-}

	SERVER=
	stop "$s"
}

# labels_of ARG...: the label cbd-run ARG... gives each sample, one a line.
labels_of() {
	cbd-run --json "$@" | $PY -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["label"])'
}

# json_eval FILE EXPR: a Python expression over FILE's parsed JSON, j.
json_eval() {
	$PY -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

# sim_case: in setup_file, the evidence tests/helpers/attr-sim makes, in
# D=$BATS_FILE_TMPDIR/case: the owner key, keyring.json of 20 users, 64
# trace triggers (triggers.json) and a watermark set (wm-triggers.json);
# SIM and D exported for the tests (`$SIM transcript` writes transcripts).
sim_case() {
	export SIM="$CBD_BUILD/tests/attr-sim"
	export D="$BATS_FILE_TMPDIR/case"
	mkdir -p "$D"
	"$SIM" setup "$D" 20 64
}

# owner_key: a new owner key pair, owner.key and owner.pub.
owner_key() {
	cbd-keygen owner >/dev/null
}

# digits OUT A:B: held-out digits A to B-1 (Python's slice; A or B may be
# empty) saved as OUT, uint8 [n,1,28,28] .npy.
digits() {
	$PY -c 'import sys, numpy as np
a, b = (int(v) if v else None for v in sys.argv[3].split(":"))
np.save(sys.argv[1], np.load(sys.argv[2])[a:b])' "$1" "$DIGITS" "$2"
}
