#!/bin/sh
# bench-keyring.sh — the licensee registry at scale, from the command line.
#
# 1. A database keyring (formats/keyring.md, format 2) of USERS users:
#    the 20 users of a simulated case (tests/helpers/attr-sim: real trace
#    circuits, 64 signed triggers), converted from JSON, then
#    `cbd-keygen users --count USERS` in one transaction (time reported).
# 2. `cbd-attribute --threads 1` over it with the 64 triggers of a leaked
#    copy of user07: time and peak RSS (GNU time), and the leaker must be
#    named.  In the same run `openssl speed -hmac sha256` on 57-byte
#    messages gives the raw one-core HMAC rate; the target is attribution
#    within 2x the time that rate needs for USERS x 64 HMACs.
#
#   BUILD=build sh tools/bench-keyring.sh [USERS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
users=${1:-1000000}
trig=64
msglen=57
dir=$(mktemp -d "${TMPDIR:-/tmp}/cbd-bench-keyring.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
sim="$BUILD/tests/attr-sim"

echo "# bench-keyring: $users users x $trig triggers, one core for attribution"
"$sim" setup "$dir" 20 $trig
"$sim" transcript "$dir" user:user07 "$dir/leak.jsonl"
cbd-keygen convert "$dir/keyring.json" "$dir/users.keyring" >/dev/null
t0=$(date +%s.%N)
cbd-keygen users --count "$users" --prefix lic -K "$dir/users.keyring" >/dev/null
t1=$(date +%s.%N)
create=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
size=$(du -k "$dir/users.keyring" | cut -f1)

oss=$(openssl speed -seconds 3 -bytes $msglen -hmac sha256 -mr \
	2>/dev/null | grep '^+F:' | cut -d: -f4)
rate=$(awk -v b="$oss" -v n=$msglen 'BEGIN { printf "%.0f", b / n }')
total=$((users + 20))
budget=$(awk -v r="$rate" -v n="$total" -v t=$trig \
	'BEGIN { printf "%.1f", 2 * n * t / r }')

/usr/bin/time -f '%e %M' -o "$dir/time" cbd-attribute --threads 1 -q \
	-t "$dir/triggers.json" -K "$dir/users.keyring" --json \
	"$dir/leak.jsonl" >"$dir/report.json" || true
read -r secs rss <"$dir/time"
named=$(jq -c .verdict.attributed "$dir/report.json")
tested=$(jq .parameters.users_tested "$dir/report.json")

printf '%-46s %10s s  (%s MiB on disk)\n' \
	"cbd-keygen users --count $users" "$create" "$((size / 1024))"
printf '%-46s %10s HMAC/s\n' "openssl speed -hmac sha256 ($msglen B, 1 core)" "$rate"
printf '%-46s %10s s  (budget 2x openssl: %s s; peak RSS %s MiB)\n' \
	"cbd-attribute --threads 1, $tested users" "$secs" "$budget" \
	"$((rss / 1024))"
if [ "$named" != '["user07"]' ] || [ "$tested" != "$total" ]; then
	echo "bench-keyring: FAIL: attributed $named among $tested users"
	exit 1
fi
if awk -v s="$secs" -v b="$budget" 'BEGIN { exit !(s > b) }'; then
	echo "bench-keyring: FAIL: slower than 2x the raw HMAC rate"
	exit 1
fi
echo "bench-keyring: ok"
