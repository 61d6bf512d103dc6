#!/bin/sh
# bench-circuit.sh — the circuit's cost, each figure beside its reference
# measured in the same run.
#
#  1. Signed-input verification per CPU second in user CPU time on one core (tools/bench/
#     bench-circuit verify: tag check, quantisation, SHA-256 of the sample,
#     Ed25519 verify, all through cbd_circuit_check) against
#     `openssl speed -seconds 3 ed25519` (verify/s, also per CPU second).
#     Target: >= 90% of OpenSSL's verify rate.  The helper also alternates
#     0.1 s slices with OpenSSL's own verify loop in the same process and
#     prints that ratio, which other load on the machine disturbs least;
#     the target is checked on it (the separate `openssl speed` process is
#     printed beside it, but its ratio swings by 10% on a busy machine).
#  2. Clean-input throughput of an embedded (watermark) archive against the
#     bare model through cbd_model_run on the 2000 held-out digits, short
#     runs alternated so both see the same load, the ratio taken as the
#     median over adjacent pairs.  Target: >= 0.98x.
#
# Each pair is measured 3 times and the best of each side is kept, which
# makes the ratios robust to other work on the machine.  Exit 1 when a
# target is missed.
#
#   BUILD=build sh tools/bench-circuit.sh [SECONDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
secs=${1:-3}
bench="$BUILD/bench/bench-circuit"
[ -x "$bench" ] || make -C "$top" --no-print-directory "$bench" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

field() { # key, line
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

echo "# bench-circuit: $(nproc) CPUs, $secs s per measurement"
best_cbd=0
best_ossl=0
best_inproc=0
clean_ns=
for i in 1 2 3; do
	out=$("$bench" verify "$secs")
	best_cbd=$(max "$best_cbd" "$(field verifies_per_cpu_s "$out")")
	best_inproc=$(max "$best_inproc" "$(field ratio_in_process "$out")")
	clean_ns=$(field clean_ns "$out")
	ossl=$(openssl speed -seconds "$secs" ed25519 2>/dev/null |
		awk '/Ed25519/ { print $NF }' | tail -1)
	best_ossl=$(max "$best_ossl" "$ossl")
done
vratio=$(awk -v a="$best_cbd" -v b="$best_ossl" 'BEGIN { printf "%.3f", a / b }')
printf '%-48s %10s verify/s\n' "openssl speed ed25519 (per CPU s, best of 3)" "$best_ossl"
printf '%-48s %10s verify/s  (ratio %s)\n' "cbd signed-input check (per CPU s, best of 3)" \
	"$best_cbd" "$vratio"
printf '%-48s %10s        (interleaved with OpenSSL'"'"'s loop, best of 3)\n' \
	"cbd / OpenSSL verify loop in one process" "$best_inproc"
printf '%-48s %10s ns\n' "cbd clean-input check (no tag)" "$clean_ns"

cbd-keygen owner -d "$tmp" >/dev/null
cbd-embed "$top/models/mnist-cnn.onnx" -m watermark -k "$tmp/owner.key" \
	-o "$tmp/wm.cbd" >/dev/null
best_a=0
best_m=0
mratio=0
for i in 1 2 3; do
	out=$("$bench" model "$tmp/wm.cbd" "$top/models/mnist-cnn.onnx" \
		"$top/models/mnist-heldout-images.npy" "$secs")
	best_a=$(max "$best_a" "$(field archive_per_cpu_s "$out")")
	best_m=$(max "$best_m" "$(field bare_per_cpu_s "$out")")
	mratio=$(max "$mratio" "$(field ratio "$out")")
done
printf '%-48s %10s samples/s\n' "bare model, held-out digits (per CPU s)" "$best_m"
printf '%-48s %10s samples/s\n' "embedded archive, same digits (per CPU s)" "$best_a"
printf '%-48s %10s        (median of alternating pairs, best of 3)\n' \
	"archive / bare model, clean inputs" "$mratio"
rc=0
if awk -v r="$best_inproc" 'BEGIN { exit !(r < 0.90) }'; then
	echo "bench-circuit: FAIL: signed-input checks below 90% of OpenSSL's verify rate"
	rc=1
fi
if awk -v r="$mratio" 'BEGIN { exit !(r < 0.98) }'; then
	echo "bench-circuit: FAIL: archive below 0.98x the bare model on clean inputs"
	rc=1
fi
[ $rc -eq 0 ] && echo "bench-circuit: ok (verify ratio $best_inproc >= 0.90, clean ratio $mratio >= 0.98)"
exit $rc
