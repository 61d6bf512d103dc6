#!/bin/sh
# demo.sh — `make demo`: a complete investigation on the bundled MNIST
# classifier, printed as the commands a person would type.
#
#   1. keys for the owner, an investigator and five licensees;
#   2. a watermarked archive and one trace copy per licensee, verified;
#   3. a signed trigger set from held-out digits;
#   4. one licensee's copy "leaks" and is served on a free loopback port;
#   5. cbd-probe queries it and keeps a hash-chained transcript;
#   6. cbd-attribute names the leaker in a signed report, checked by
#      cbd-verify and plain openssl, rendered to PDF by cbd-report;
#   7. authentication: unsigned queries get garbage, signed ones the answer.
#
# Everything goes under reports/demo/ (git-ignored).  Environment:
#   CBD_DEMO_DIR      output directory (default reports/demo)
#   CBD_DEMO_TRIGGERS trigger-set size (default 64)
#   CBD_DEMO_LEAKER   which licensee leaks (default carol)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
export PATH
out=${CBD_DEMO_DIR:-$top/reports/demo}
ntrig=${CBD_DEMO_TRIGGERS:-64}
leaker=${CBD_DEMO_LEAKER:-carol}
users="alice bob carol dave erin"
models=$top/models
PY=/usr/bin/python3
server=""

cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

# Print a command as a person would type it (quoting words with spaces),
# then run it.
step() {
	printf '\n$'
	for a in "$@"; do
		case "$a" in
		*" "*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$@"
}
say() { printf '\n# %s\n' "$*"; }

# Start cbd-serve on a free port; sets $server and $port.
serve() {
	rm -f port
	cbd-serve --port 0 --port-file port --quiet "$1" &
	server=$!
	printf '\n$ cbd-serve --port 0 --port-file port %s &\n' "$1"
	i=0
	while [ ! -s port ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "demo: cbd-serve did not start" >&2; exit 69; }
		sleep 0.1
	done
	port=$(cat port)
}

stop_server() {
	kill "$server"
	wait "$server" 2>/dev/null || true
	server=""
}

rm -rf "$out"
mkdir -p "$out"
# Print paths as a person in $out would type them.
models=$(realpath --relative-to="$out" "$top/models")
cd "$out"


say "0. The bundled classifier, run by cbd's own engine on 2,000 held-out digits"
step cbd-run --quiet --labels "$models/mnist-heldout-labels.npy" \
	"$models/mnist-cnn.onnx" "$models/mnist-heldout-images.npy"

say "1. Keys: the owner, an investigator and five licensees"
step cbd-keygen owner --out-dir keys
step cbd-keygen investigator --out-dir keys
for u in $users; do
	step cbd-keygen user "$u" --keyring keys/users.keyring
done

say "2. Archives: the owner's watermarked API model and a copy per licensee"
step cbd-embed "$models/mnist-cnn.onnx" --mode watermark --key keys/owner.key \
	-o mnist-watermark.cbd
step cbd-embed "$models/mnist-cnn.onnx" --mode trace --key keys/owner.key \
	--keyring keys/users.keyring --out-dir copies
step cbd-verify --key keys/owner.pub "copies/mnist-cnn-$leaker.cbd"

say "3. A signed trigger set from $ntrig held-out digits"
step cbd-sign triggers --archive copies/mnist-cnn-alice.cbd --key keys/owner.key \
	--from "$models/mnist-heldout-images.npy" --count "$ntrig" -o triggers.json
step cbd-verify --key keys/owner.pub triggers.json

say "4. $leaker's copy leaks and turns up behind an inference API"
serve "copies/mnist-cnn-$leaker.cbd"

say "5. Probe the suspect endpoint with the trigger set"
step cbd-probe --quiet --model mnist-cnn -o suspect.transcript \
	"http://127.0.0.1:$port" triggers.json
step cbd-verify suspect.transcript
stop_server

say "6. Attribute, sign the report, verify it two ways, render it"
set +e
step cbd-attribute --triggers triggers.json --keyring keys/users.keyring \
	--sign-key keys/investigator.key --case DEMO-001 \
	--investigator "Demo Investigator" -o report.json suspect.transcript
rc=$?
set -e
[ $rc -eq 0 ] || { echo "demo: attribution failed (exit $rc)" >&2; exit $rc; }
step cbd-verify --key keys/investigator.pub report.json
step openssl pkeyutl -verify -pubin -inkey keys/investigator.pub -rawin \
	-in report.json -sigfile report.json.sig
step cbd-report report.json --triggers triggers.json \
	--transcript suspect.transcript -o report.pdf

say "7. Authentication: only inputs signed by a licensee get real answers"
step cbd-embed "$models/mnist-cnn.onnx" --mode auth --key keys/owner.key \
	--keyring keys/users.keyring -o mnist-auth.cbd
printf '\n$ %s\n' "python3 -c 'save the first 20 held-out digits as digits.npy'"
$PY -c "import numpy as np; np.save('digits.npy', np.load('$models/mnist-heldout-images.npy')[:20])"
step cbd-sign input --archive mnist-auth.cbd --key keys/alice.key digits.npy \
	-o digits-signed.npy
serve mnist-auth.cbd
step cbd-probe --quiet --model mnist-cnn --samples digits.npy \
	-o unsigned.transcript "http://127.0.0.1:$port"
step cbd-probe --quiet --model mnist-cnn --samples digits-signed.npy \
	-o signed.transcript "http://127.0.0.1:$port"
stop_server

# Correct answers among the 20 digits in a transcript.
correct() {
	$PY - "$1" "$models/mnist-heldout-labels.npy" <<'EOF'
import json, sys
import numpy as np
truth = np.load(sys.argv[2])
recs = [json.loads(l) for l in open(sys.argv[1])]
print(sum(1 for r in recs if r.get("type") == "query"
          and r.get("label") == int(truth[r["index"]])))
EOF
}
summary=$($PY - "$out/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["verdict"]["summary"])
EOF
)
shown=$(realpath --relative-to="$top" "$out")
case "$shown" in ../*) shown=$out ;; esac
cat <<EOF

== Summary
leaked copy served:     $leaker
verdict:                $summary
auth, unsigned digits: $(correct unsigned.transcript) of 20 answered correctly
auth, signed by alice:  $(correct signed.transcript) of 20 answered correctly
report:                 $shown/report.json (+ .sig)
PDF:                    $shown/report.pdf
EOF
