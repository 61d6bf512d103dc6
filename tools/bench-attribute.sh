#!/bin/sh
# bench-attribute.sh — attribution speed beside OpenSSL's raw HMAC-SHA256.
#
# Times cbd-attribute's scoring core on a synthetic licensee base
# (tools/bench/bench-attribute.c: 1,000,000 users x 64 triggers by default,
# real trigger set, random trace secrets generated in memory, one leaker who
# must be named) and, in the same run, `openssl speed -hmac sha256` on
# messages of the trigger-message length (57 bytes).  openssl speed is
# single-threaded; it is run with -elapsed so both rates are wall-clock, and
# the per-CPU-second rates are printed too (fair when other work shares the
# machine).  Target: attribution >= 50% of the openssl rate.  Exit 1 if the
# leaker is not named or the target is missed.
#
#   BUILD=build sh tools/bench-attribute.sh [USERS [TRIGGERS]]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
users=${1:-1000000}
trig=${2:-64}
bench="$BUILD/bench/bench-attribute"
msglen=57
[ -x "$bench" ] || make -C "$top" --no-print-directory "$bench" >/dev/null

field() { # key, line
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

echo "# bench-attribute: $users users x $trig triggers, $(nproc) CPUs"
oss=$(openssl speed -seconds 3 -bytes $msglen -hmac sha256 -mr -elapsed \
	2>/dev/null | grep '^+F:' | cut -d: -f4)
oss_cpu=$(openssl speed -seconds 3 -bytes $msglen -hmac sha256 -mr \
	2>/dev/null | grep '^+F:' | cut -d: -f4)
ossl=$(awk -v b="$oss" -v n=$msglen 'BEGIN { printf "%.0f", b / n }')
ossl_cpu=$(awk -v b="$oss_cpu" -v n=$msglen 'BEGIN { printf "%.0f", b / n }')
out=$("$bench" "$users" "$trig" 0)
rate=$(field hmacs_per_s "$out")
rate_cpu=$(field hmacs_per_cpu_s "$out")
secs=$(field seconds "$out")
ok=$(field ok "$out")
ratio=$(awk -v a="$rate" -v b="$ossl" 'BEGIN { printf "%.2f", a / b }')
ratio_cpu=$(awk -v a="$rate_cpu" -v b="$ossl_cpu" \
	'BEGIN { printf "%.2f", a / b }')
printf '%-44s %12s HMAC/s\n' "openssl speed -hmac sha256 ($msglen B, wall)" "$ossl"
printf '%-44s %12s HMAC/s\n' "openssl speed -hmac sha256 ($msglen B, CPU)" "$ossl_cpu"
printf '%-44s %12s HMAC/s  (%s s, ratio %s)\n' "cbd attribution (all threads, wall)" \
	"$rate" "$secs" "$ratio"
printf '%-44s %12s HMAC/s  (ratio %s)\n' "cbd attribution (per CPU second)" \
	"$rate_cpu" "$ratio_cpu"
echo "# $out"
if [ "$ok" != 1 ]; then
	echo "bench-attribute: FAIL: the leaker was not named exactly"
	exit 1
fi
if awk -v r="$ratio" 'BEGIN { exit !(r < 0.5) }'; then
	echo "bench-attribute: FAIL: below 50% of the openssl HMAC rate"
	exit 1
fi
echo "bench-attribute: ok (target >= 0.50 of openssl's rate: $ratio)"
