#!/usr/bin/env bats
# hardening.bats — hostile files against the tools (issue 8).
#
# Archives: members named ../x or /abs, symbolic and hard links, device
# nodes and FIFOs, duplicate and extra members, a gzip bomb whose trailer
# lies about its size, and manifests re-signed by their own key that lie
# about a member's size or digest.  Each is refused by cbd-verify,
# cbd-run and cbd-serve with a message naming the problem, and nothing is
# written anywhere (the working directory, TMPDIR, the paths the members
# name).  The hostile archives are made by tests/helpers/hostile_archive.py
# from a real archive of the bundled model.
#
# Keys: an encrypted owner key with a wrong or missing passphrase, a
# corrupted PEM, a public key where a private one is needed, and a private
# key readable by others (refused, as ssh does) — through cbd-embed and
# cbd-sign, with no output left behind.
#
# Probe: cbd-probe against tests/helpers/hostile_endpoint.py (loopback):
# huge, deeply nested, NaN/Inf, wrong-K, truncated and empty answers and
# redirects to another host are recorded as errors and the probe goes on.

load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	owner_key
	cbd-embed "$MODEL" -m watermark -k owner.key -o good.cbd 2>/dev/null
	for k in dotdot absolute symlink hardlink chardev fifo duplicate \
		extra bomb lying-size lying-digest; do
		$PY "$CBD_TOP/tests/helpers/hostile_archive.py" "$k" good.cbd \
			"$k.cbd" owner.key
	done
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	F="$BATS_FILE_TMPDIR"
	mkdir -p work tmp
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
}

teardown() {
	stop "${HOSTILE:-}" "${SERVER:-}" 2>/dev/null || true
}

# Nothing new in the test's directories or where hostile members point.
nothing_written() {
	[ -z "$(find "$BATS_TEST_TMPDIR/work" "$TMPDIR" -mindepth 1)" ]
	[ ! -e "$BATS_TEST_TMPDIR/cbd-hardening-x" ]
	[ ! -e /tmp/cbd-hardening-abs ]
}

# refused KIND EXIT PATTERN: cbd-verify and cbd-run refuse KIND.cbd.
refused() {
	cd "$BATS_TEST_TMPDIR/work"
	run cbd-verify "$F/$1.cbd"
	[ "$status" -eq "$2" ]
	[[ "$output" == "cbd-verify: error: "*$3* ]]
	[ "${#lines[@]}" -eq 1 ]
	run cbd-run "$F/$1.cbd" "$CBD_TOP/models/test/digit-7.png"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cbd-run: error: "*$3* ]]
	cd "$BATS_TEST_TMPDIR"
	nothing_written
}

@test "the untouched archive verifies (the hostile ones start from it)" {
	run cbd-verify "$F/good.cbd"
	[ "$status" -eq 0 ]
}

@test "archive: member ../x is refused" {
	refused dotdot 65 'member path with ".." (../cbd-hardening-x'
}

@test "archive: absolute member path is refused" {
	refused absolute 65 "absolute member path (/tmp/cbd-hardening-abs"
}

@test "archive: symbolic link member is refused" {
	refused symlink 65 "symbolic link member (model.onnx"
}

@test "archive: hard link member is refused" {
	refused hardlink 65 "hard link member (model.onnx"
}

@test "archive: device node and FIFO members are refused" {
	refused chardev 65 "device member (model.onnx"
	refused fifo 65 "FIFO or socket member (model.onnx"
}

@test "archive: duplicate and unexpected members are refused" {
	refused duplicate 65 "duplicate member (circuit.json"
	refused extra 65 "unexpected member (notes.txt"
}

@test "archive: gzip bomb (0.6 MiB -> 600 MiB, lying trailer) stops at the cap, memory stays small" {
	[ "$(stat -c %s "$F/bomb.cbd")" -lt 1000000 ]
	cd work
	run /usr/bin/time -f 'maxrss_kb=%M' cbd-verify "$F/bomb.cbd"
	[ "$status" -eq 65 ]
	[[ "$output" == *"archive decompresses to more than"* ]]
	rss=$(printf '%s\n' "$output" | sed -n 's/^maxrss_kb=//p')
	# the cap is 544 MiB of tar; a reader that buffers it all fails here
	# (generous for ASan's shadow memory)
	[ "$rss" -lt 400000 ]
	cd ..
	nothing_written
}

@test "archive: a re-signed manifest that lies about a size or digest is refused" {
	refused lying-size 1 "model.onnx is 120385 bytes, the manifest says 1000"
	refused lying-digest 1 "model.onnx does not match its SHA-256"
}

@test "archive: cbd-serve refuses a hostile archive at start and listens on nothing" {
	cd work
	run timeout 20 cbd-serve --port 0 --port-file port "$F/symlink.cbd"
	[ "$status" -ne 0 ]
	[[ "$output" == *"symbolic link member"* ]]
	[ ! -s port ]
	rm -f port
	cd ..
	nothing_written
}

@test "archive: truncated at every 4 KiB boundary and 1-byte cut: refused, never a crash" {
	size=$(stat -c %s "$F/good.cbd")
	for cut in 1 10 100 4096 65536 $((size - 8)) $((size - 1)); do
		head -c "$cut" "$F/good.cbd" > cut.cbd
		run cbd-verify cut.cbd
		[ "$status" -eq 65 ] || [ "$status" -eq 1 ]
		[[ "$output" == "cbd-verify: error: "* ]]
	done
}

# ---- keys ---------------------------------------------------------------

# embed_with KEY [options]: cbd-embed into work/out.cbd
embed_with() {
	cd "$BATS_TEST_TMPDIR/work"
	run cbd-embed "$MODEL" -m watermark -k "$@" \
		-o out.cbd
	cd "$BATS_TEST_TMPDIR"
}

@test "keys: encrypted owner key with the wrong passphrase or none" {
	printf 'right horse\n' > pass
	printf 'wrong horse\n' > wrong
	cbd-keygen owner -d enc --passphrase-file pass >/dev/null
	embed_with "$PWD/enc/owner.key" --passphrase-file "$PWD/wrong"
	[ "$status" -eq 65 ]
	[[ "$output" == *"wrong passphrase"* ]]
	[[ "$output" != *"wrong horse"* ]]
	nothing_written
	embed_with "$PWD/enc/owner.key" < /dev/null
	[ "$status" -ne 0 ]
	[[ "$output" == *"passphrase"* ]]
	nothing_written
	embed_with "$PWD/enc/owner.key" --passphrase-file "$PWD/pass"
	[ "$status" -eq 0 ]
	[ -s work/out.cbd ]
}

@test "keys: corrupted PEM (flipped base64, cut, garbage after) is refused" {
	cbd-keygen owner -d k >/dev/null
	sed '2s/^\(....\)./\1#/' k/owner.key > bad1.key
	head -c 60 k/owner.key > bad2.key
	{ cat k/owner.key; echo trailing; } > bad3.key
	printf -- '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' \
		> bad4.key
	chmod 600 bad*.key
	for b in bad1 bad2 bad3 bad4; do
		embed_with "$PWD/$b.key"
		[ "$status" -eq 65 ]
		[[ "$output" == "cbd-embed: error: "*"$b.key"* ]]
		nothing_written
	done
}

@test "keys: a public key where the private key is needed" {
	cbd-keygen owner -d k >/dev/null
	embed_with "$PWD/k/owner.pub"
	[ "$status" -ne 0 ]
	[[ "$output" == *"private"* ]]
	nothing_written
	run cbd-sign triggers -a "$F/good.cbd" -k k/owner.pub \
		--from "$CBD_TOP/models/test/digit-7.png" -o work/t.json
	[ "$status" -ne 0 ]
	[[ "$output" == *"private"* ]]
	nothing_written
}

@test "keys: a private key readable by group or others is refused with a chmod hint" {
	cbd-keygen owner -d k >/dev/null
	for m in 640 604 644; do
		chmod "$m" k/owner.key
		embed_with "$PWD/k/owner.key"
		[ "$status" -eq 77 ]
		[[ "$output" == *"chmod 600"* ]]
		nothing_written
		run cbd-sign triggers -a "$F/good.cbd" -k k/owner.key \
			--from "$CBD_TOP/models/test/digit-7.png" -o work/t.json
		[ "$status" -eq 77 ]
		nothing_written
	done
	chmod 600 k/owner.key
	embed_with "$PWD/k/owner.key"
	[ "$status" -eq 0 ]
}

# ---- cbd-probe against a hostile endpoint --------------------------------

@test "probe: huge, deeply nested, NaN/Inf, wrong-K, truncated and empty answers are recorded as errors; the probe goes on" {
	digits s12.npy :12
	$PY "$CBD_TOP/tests/helpers/hostile_endpoint.py" "$PWD/pf" &
	HOSTILE=$!
	url="http://127.0.0.1:$(wait_port pf)"
	run /usr/bin/time -f 'maxrss_kb=%M' cbd-probe -m mnist --samples s12.npy \
		--classes 10 --retries 0 --timeout 20 -o h.jsonl "$url"
	[ "$status" -eq 0 ]
	[[ "$output" == *"12 queries: 2 answered, 10 failed"* ]]
	# a 64 MiB answer is cut at the probe's cap, not buffered
	rss=$(printf '%s\n' "$output" | sed -n 's/^maxrss_kb=//p')
	[ "$rss" -lt 300000 ]
	run $PY - h.jsonl <<'PYEOF'
import json, sys
q = {j["trigger"]: j for j in map(json.loads, open(sys.argv[1]))
     if j["type"] == "query"}
want = {"s1": "response too large", "s2": "bad JSON in response",
        "s3": "bad JSON in response", "s4": "non-finite score in answer",
        "s5": "answer has 3 scores, expected 10",
        "s6": "HTTP 307 redirect to http://127.0.0.2:",
        "s7": "HTTP 307 redirect to http://127.0.0.1:",
        "s9": "", "s10": "bad JSON in response",
        "s11": "no outputs[0].data in response"}
for k, w in want.items():
    assert q[k]["label"] is None or q[k]["label"] < 0, (k, q[k])
    assert q[k]["error"] and q[k]["error"].startswith(w), (k, q[k]["error"])
    assert "scores" not in q[k] or not q[k]["scores"], k
assert q["s0"]["label"] == 0 and q["s8"]["label"] == 8, (q["s0"], q["s8"])
assert q["s0"]["error"] is None and q["s8"]["error"] is None
PYEOF
	echo "$output"
	[ "$status" -eq 0 ]
	run cbd-verify h.jsonl
	[ "$status" -eq 0 ]
	# the other host never heard from us
	[ ! -e pf.other.log ]
	stop "$HOSTILE"
}

@test "probe: --follow-redirects follows the same host only" {
	digits s8.npy :8
	$PY "$CBD_TOP/tests/helpers/hostile_endpoint.py" "$PWD/pf" &
	HOSTILE=$!
	wait_port pf >/dev/null
	run cbd-probe -m mnist --samples s8.npy --classes 10 --retries 0 \
		--follow-redirects -o r.jsonl "http://127.0.0.1:$(cat pf)"
	[ "$status" -eq 0 ]
	run $PY - r.jsonl <<'PYEOF'
import json, sys
q = {j["trigger"]: j for j in map(json.loads, open(sys.argv[1]))
     if j["type"] == "query"}
assert q["s7"]["label"] == 7 and q["s7"]["error"] is None, q["s7"]
assert q["s6"]["error"].startswith("HTTP 307 redirect to http://127.0.0.2:"), q["s6"]
PYEOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ ! -e pf.other.log ]
	stop "$HOSTILE"
}

@test "keys: a P-256 private key whose stored public point does not match is refused at load (fuzz finding)" {
	# found by tests/fuzz/fuzz_keys.c: one changed digit in the public
	# point of a PKCS#8 EC key; OpenSSL parses it, its pairwise check fails
	# (fixed in lib/keys/keys.c: private keys must pass the pairwise check)
	cp "$CBD_TOP/tests/fuzz/regress/keys/p256-mismatched-public.pem" bad.key
	chmod 600 bad.key
	run openssl pkey -in bad.key -check -noout
	[ "$status" -ne 0 ]
	embed_with "$PWD/bad.key"
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-embed: error: "*"bad.key"* ]]
	nothing_written
}

@test "nn: a node without inputs is refused, not run into a NULL dereference (fuzz finding)" {
	# found by tests/fuzz/fuzz_nn.c: a Shape node with no input passed the
	# loader and cbd_nn_run dereferenced NULL (fixed in lib/nn: node
	# arity is checked at load)
	$PY -c "import numpy as np; np.save('x4.npy', np.zeros((1, 4), np.float32))"
	run cbd-run "$CBD_TOP/tests/fuzz/regress/nn/shape-node-without-input-cli.onnx" x4.npy
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-run: error: "*"Shape"* ]]
}

@test "nn: Reshape to more elements than it has is refused before allocating (fuzz finding)" {
	# found by tests/fuzz/fuzz_nn.c: a 400-byte model reshaping 13
	# elements to [13, 16777228] made cbd_nn_run allocate 872 MB before
	# comparing the element counts (fixed in lib/nn/shape_ops.c)
	if nm -D "$(command -v cbd-run)" 2>/dev/null | grep -q __asan_init ||
	   nm "$(command -v cbd-run)" 2>/dev/null | grep -q __asan_init; then
		skip "address-space cap not usable under ASan"
	fi
	$PY -c "import numpy as np; np.save('x13.npy', np.zeros((1, 13), np.float32))"
	m="$CBD_TOP/tests/fuzz/regress/nn/reshape-allocates-before-size-check-cli.onnx"
	run sh -c "ulimit -v 600000; cbd-run '$m' x13.npy"
	[ "$status" -eq 65 ]
	[[ "$output" == *"cannot reshape 13 elements"* ]]
}

@test "nn: an initializer whose dims claim more than its data is refused before allocating (fuzz finding)" {
	# found by tests/fuzz/fuzz_nn.c: a 329-byte model whose int64
	# initializer claims 207 M elements made the loader calloc 1.6 GB
	# before comparing with the data it holds (lib/nn/onnx.c)
	if nm -D "$(command -v cbd-run)" 2>/dev/null | grep -q __asan_init ||
	   nm "$(command -v cbd-run)" 2>/dev/null | grep -q __asan_init; then
		skip "address-space cap not usable under ASan"
	fi
	$PY -c "import numpy as np; np.save('x4.npy', np.zeros((1, 4), np.float32))"
	m="$CBD_TOP/tests/fuzz/regress/nn/nn-initializer-dims-larger-than-data.onnx"
	run sh -c "ulimit -v 600000; cbd-run '$m' x4.npy"
	[ "$status" -eq 65 ]
	[[ "$output" == *"tensor i0: element count does not match its shape"* ]]
}

@test "nn: padding wider than the convolution kernel is refused (fuzz finding)" {
	# found by tests/fuzz/fuzz_nn.c: a 479-byte model with a 3x3 Conv
	# padded by 6291455 on one side sent oneDNN's kernel generator into
	# minutes of work and 24 GB of memory (fixed in lib/nn/dnnl_ops.c:
	# pads must be smaller than the kernel extent)
	$PY -c "import numpy as np; np.save('x44.npy', np.zeros((1, 1, 4, 4), np.float32))"
	m="$CBD_TOP/tests/fuzz/regress/nn/conv-padding-wider-than-kernel.onnx"
	run timeout 60 cbd-run "$m" x44.npy
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-run: error: pads 1,6291455 not smaller than the kernel extent 3 (node c, Conv)" ]]
}

@test "nn: a model past the compute limit is refused before the expensive node runs" {
	# models/test/bad/compute-heavy.onnx pads a 4x4 input to 8x1024x1024
	# and convolves it to 64 channels: 4.8e9 multiply-adds per sample
	$PY -c "import numpy as np; np.save('x44.npy', np.zeros((1, 1, 4, 4), np.float32))"
	m="$CBD_TOP/models/test/bad/compute-heavy.onnx"
	CBD_MAX_GMAC=1 run cbd-run "$m" x44.npy
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-run: error: the run would exceed the compute limit of 1000000000 multiply-adds (CBD_MAX_GMAC raises it) (node heavy, Conv)" ]]
	CBD_MAX_GMAC=5 run cbd-run "$m" x44.npy
	[ "$status" -eq 0 ]
	[[ "$output" == *"label 0 scores 0 0 0" ]]
	CBD_MAX_GMAC=4.7 run cbd-run "$m" x44.npy
	[ "$status" -eq 65 ]
	[[ "$output" == *"compute limit of 4700000000 multiply-adds"* ]]
	CBD_MAX_GMAC=lots run cbd-run "$m" x44.npy
	[ "$status" -eq 78 ]
	[[ "$output" == "cbd-run: error: CBD_MAX_GMAC is not a positive number of 1e9 multiply-adds ('lots')"* ]]
}

@test "serve: an inference past the compute limit gets 413 and the server keeps serving" {
	CBD_MAX_GMAC=1 start_server --model-name heavy \
		"$CBD_TOP/models/test/bad/compute-heavy.onnx"
	url="$URL/v2/models/heavy"
	body='{"inputs":[{"name":"input","shape":[1,1,4,4],"datatype":"FP32","data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}'
	code=$(curl -s -o resp.json -w '%{http_code}' -d "$body" "$url/infer")
	meta=$(curl -s -o /dev/null -w '%{http_code}' "$url")
	stop_server
	[ "$code" = 413 ]
	grep -q 'compute limit of 1000000000 multiply-adds' resp.json
	[ "$meta" = 200 ]
}

@test "a SOURCE_DATE_EPOCH that is not a Unix time is a usage error, and nothing is written" {
	cd work
	want="SOURCE_DATE_EPOCH is not a Unix time ('1e9')"
	SOURCE_DATE_EPOCH=1e9 run cbd-keygen owner
	[ "$status" -eq 64 ]
	[[ "$output" == "cbd-keygen: error: $want"* ]]
	SOURCE_DATE_EPOCH=1e9 run cbd-embed "$MODEL" \
		-m watermark -k "$F/owner.key" -o wm.cbd
	[ "$status" -eq 64 ]
	[[ "$output" == "cbd-embed: error: $want"* ]]
	SOURCE_DATE_EPOCH=1e9 run cbd-sign triggers -a "$F/good.cbd" \
		-k "$F/owner.key" --from "$DIGITS" \
		-n 2 -o t.json
	[ "$status" -eq 64 ]
	[[ "$output" == "cbd-sign: error: $want"* ]]
	cd ..
	nothing_written
	# a valid one is recorded as given
	cd work
	SOURCE_DATE_EPOCH=1000000000 cbd-embed "$MODEL" \
		-m watermark -k "$F/owner.key" -o wm.cbd 2>/dev/null
	cbd-verify --info --json wm.cbd | grep -q '"created": 1000000000'
}
