#!/usr/bin/env bats
# keyring.bats — the keyring as an SQLite database (format 2,
# formats/keyring.md): concurrent adds from several processes, hostile
# databases refused with one line and a sysexits code, the JSON -> SQLite
# conversion round trip, the registry verbs, attribution over the database
# (revoked users tested and reported, the digest over the canonical rows).
# Real files made by the real tools; hostile ones edited with sqlite3(1).

load helpers

setup_file() {
	sim_case
	cbd-keygen convert "$D/keyring.json" "$D/users.keyring" >/dev/null
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

mode() { stat -c %a "$1"; }

@test "a new keyring is a WAL SQLite database, mode 0600, with the schema version row" {
	run cbd-keygen user amy -K ring.keyring --note "seat 1"
	[ "$status" -eq 0 ]
	[ "$(mode ring.keyring)" = 600 ]
	[ "$(head -c 15 ring.keyring)" = "SQLite format 3" ]
	[ "$(sqlite3 ring.keyring 'PRAGMA journal_mode')" = wal ]
	[ "$(sqlite3 ring.keyring 'SELECT format, version FROM cbd_keyring')" = "cbd-keyring|2" ]
	[ "$(sqlite3 ring.keyring 'SELECT id, key_type, length(public_key), length(trace_secret), revoked IS NULL, note FROM users')" = "amy|ed25519|44|32|1|seat 1" ]
	run cbd-keygen user amy -K ring.keyring
	[ "$status" -eq 65 ]
	[[ "$output" == *"already in the keyring"* ]]
}

@test "concurrent adds from 6 processes: no user lost, database intact" {
	for p in 1 2 3 4 5 6; do
		( for i in $(seq 10); do
			cbd-keygen user "p${p}u$i" -K race.keyring -d keys >/dev/null ||
				echo "fail p$p u$i" >>fail.log
		done ) &
	done
	wait
	[ ! -e fail.log ] || { cat fail.log; return 1; }
	[ "$(sqlite3 race.keyring 'SELECT count(*) FROM users')" -eq 60 ]
	[ "$(sqlite3 race.keyring 'PRAGMA integrity_check')" = ok ]
	run cbd-keygen list -K race.keyring
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c ' active$')" -eq 60 ]
	[ "$(mode race.keyring)" = 600 ]
}

@test "users --count N --prefix P: one transaction, ids zero-padded" {
	run cbd-keygen users --count 120 --prefix lic -K many.keyring
	[ "$status" -eq 0 ]
	[[ "$output" == *"lic001..lic120: 120 added"* ]]
	[ "$(sqlite3 many.keyring 'SELECT min(id), max(id), count(*) FROM users')" = "lic001|lic120|120" ]
	# a clash rolls the whole batch back
	run cbd-keygen users --count 200 --prefix lic -K many.keyring
	[ "$status" -eq 64 ]
	[[ "$output" == *"user lic001 is already in the keyring"* ]]
	[ "$(sqlite3 many.keyring 'SELECT count(*) FROM users')" -eq 120 ]
	run cbd-keygen users --count 5 -K plain.json
	[ "$status" -eq 65 ]
}

@test "JSON -> SQLite round trip: same users, secrets, times; same attribution" {
	cp "$D/keyring.json" old.json
	chmod 600 old.json
	run cbd-keygen convert old.json new.keyring
	[ "$status" -eq 0 ]
	run cbd-keygen convert old.json new.keyring
	[ "$status" -eq 73 ]
	$PY - old.json new.keyring <<'PY'
import json, sqlite3, sys, subprocess
j = json.load(open(sys.argv[1]))["users"]
db = sqlite3.connect(sys.argv[2])
rows = db.execute("SELECT id, public_key, hex(trace_secret), created, revoked FROM users ORDER BY id").fetchall()
assert len(rows) == len(j) == 20
for u, (i, pk, sec, cr, rv) in zip(j, rows):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=u["public_key"].encode(), capture_output=True).stdout
    assert (u["id"], der, u["trace_secret"], u["created"], None) == (i, pk, sec.lower(), cr, rv), i
PY
	"$SIM" transcript "$D" user:user07 u07.jsonl
	a=$(cbd-attribute -q -t "$D/triggers.json" -K old.json --json u07.jsonl | jq -c '[.verdict, .users[0].matches, .histogram]')
	b=$(cbd-attribute -q -t "$D/triggers.json" -K new.keyring --json u07.jsonl | jq -c '[.verdict, .users[0].matches, .histogram]')
	[ "$a" = "$b" ]
	[[ "$a" == *'"attributed":["user07"]'* ]]
}

@test "the report's keyring digest is SHA-256 over the canonical rows" {
	"$SIM" transcript "$D" user:user02 u02.jsonl
	run cbd-attribute -q -t "$D/triggers.json" -K "$D/users.keyring" --json u02.jsonl
	[ "$status" -eq 0 ]
	got=$(printf '%s\n' "$output" | jq -r .evidence.keyring)
	want=$($PY - "$D/users.keyring" <<'PY'
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
h = hashlib.sha256(b"cbd-keyring/2\n")
n = 0
for i, t, pk, sec, cr, rv, note in db.execute(
        "SELECT id, key_type, public_key, trace_secret, created, revoked, note FROM users ORDER BY id"):
    i = i.encode(); note = (note or "").encode()
    h.update(bytes([len(i)]) + i + bytes([1 if t == "ed25519" else 2]))
    h.update(struct.pack(">H", len(pk)) + pk + sec)
    h.update(struct.pack(">qq", cr, -1 if rv is None else rv))
    h.update(struct.pack(">H", len(note)) + note)
    n += 1
h.update(struct.pack(">Q", n))
print(h.hexdigest())
PY
)
	[ "$got" = "$want" ]
}

@test "a revoked user is still tested, named and reported as revoked" {
	cp "$D/users.keyring" rev.keyring
	SOURCE_DATE_EPOCH=1800000000 cbd-keygen revoke user05 -K rev.keyring
	run cbd-keygen revoke user05 -K rev.keyring
	[ "$status" -eq 64 ]
	[[ "$output" == *"already revoked"* ]]
	run cbd-keygen show user05 -K rev.keyring
	[[ "$output" == *"revoked:     2027-01-15T08:00:00Z"* ]]
	"$SIM" transcript "$D" user:user05 u05.jsonl
	run cbd-attribute -t "$D/triggers.json" -K rev.keyring --json u05.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"user05 (64 matches"*", revoked)"* ]]
	r=$(printf '%s\n' "$output" | grep -v '^cbd-attribute:')
	[ "$(printf '%s\n' "$r" | jq -r '.users[0].revoked')" = 2027-01-15T08:00:00Z ]
	[ "$(printf '%s\n' "$r" | jq -r '.users[1].revoked')" = null ]
	run cbd-keygen revoke user05 -K "$D/keyring.json"
	[ "$status" -eq 69 ] || [ "$status" -eq 65 ]
}

@test "list, show and export-public never print a trace secret" {
	run cbd-keygen export-public -K "$D/users.keyring"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^{')" -eq 20 ]
	printf '%s\n' "$output" | grep '^{' | head -1 | jq -r .public_key | openssl pkey -pubin -noout
	secret=$(sqlite3 "$D/users.keyring" "SELECT lower(hex(trace_secret)) FROM users WHERE id = 'user01'")
	all=$(cbd-keygen export-public -K "$D/users.keyring" 2>&1; cbd-keygen list --json -K "$D/users.keyring" 2>&1; cbd-keygen show user01 -K "$D/users.keyring")
	[[ "$all" != *"$secret"* ]]
}

# A copy of a good database, edited by sqlite3 with SQL $1.
hostile() {
	rm -f bad.keyring
	cp "$D/users.keyring" bad.keyring
	chmod 600 bad.keyring
	sqlite3 bad.keyring "$1"
}

# cbd-attribute and cbd-keygen both refuse bad.keyring: one line, $1 code.
refused() {
	run cbd-attribute -q -t "$D/triggers.json" -K bad.keyring u.jsonl
	[ "$status" -eq "$1" ] || { echo "attribute: $status $output"; return 1; }
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "cbd-attribute: error: "*"$2"* ]] || { echo "$output"; return 1; }
	run cbd-keygen list -K bad.keyring
	[ "$status" -eq "$1" ]
	[[ "$output" == *"$2"* ]]
}

@test "hostile databases are refused with a clear one-line error" {
	"$SIM" transcript "$D" user:user01 u.jsonl
	hostile "CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM users; END;"
	refused 65 "unexpected trigger 't'"
	hostile "CREATE VIEW v AS SELECT id FROM users;"
	refused 65 "unexpected view 'v'"
	hostile "CREATE INDEX i ON users(created);"
	refused 65 "unexpected index 'i'"
	hostile "ALTER TABLE users ADD COLUMN x TEXT;"
	refused 65 "table users has the wrong schema"
	hostile "DELETE FROM cbd_keyring;"
	refused 65 "version row"
	hostile "PRAGMA application_id = 7;"
	refused 65 "application id"
	hostile "PRAGMA ignore_check_constraints = 1; UPDATE users SET public_key = zeroblob(5000000) WHERE id = 'user03';"
	run cbd-attribute -q -t "$D/triggers.json" -K bad.keyring u.jsonl
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"user03"* || "$output" == *"too big"* ]]
	hostile "PRAGMA ignore_check_constraints = 1; UPDATE users SET public_key = zeroblob(44) WHERE id = 'user04';"
	refused 65 "user04: public key is not an SPKI ed25519 key"
	hostile "UPDATE users SET key_type = 'p256' WHERE id = 'user04';"
	refused 65 "user04: public key is not an SPKI p256 key"
	hostile "PRAGMA ignore_check_constraints = 1; UPDATE users SET trace_secret = x'00' WHERE id = 'user06';"
	refused 65 "user06: trace secret"
	hostile "PRAGMA ignore_check_constraints = 1; UPDATE users SET id = '../x' WHERE id = 'user06';"
	refused 65 "invalid user id"
	hostile "PRAGMA journal_mode = DELETE;"
	refused 65 "WAL"
	rm -f bad.keyring
	ln -s "$D/users.keyring" bad.keyring
	refused 77 "symbolic link"
	rm -f bad.keyring
	cp "$D/users.keyring" bad.keyring
	chmod 640 bad.keyring
	refused 77 "chmod 600"
}

@test "cbd-embed takes the database form" {
	owner_key
	cbd-keygen users --count 3 --prefix e -K e.keyring >/dev/null
	run cbd-embed "$MODEL" -m trace -k owner.key \
		-K e.keyring -u e2 -d copies
	[ "$status" -eq 0 ]
	[ -f copies/mnist-cnn-e2.cbd ]
}

# Run "$@" without root's power to ignore file modes (as any other user
# would run it), so a mode-0400 file or mode-0500 directory is truly
# read-only.  Non-root users are already without it.
unprivileged() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --inh-caps=-all --bounding-set=-all -- "$@"
	else
		"$@"
	fi
}

# Bytes, mtime and the directory listing of keyring $1.
fingerprint() {
	sha256sum "$1"
	stat -c '%s %y %a' "$1"
	ls -a "$(dirname "$1")"
}

@test "readers never write: a read-only keyring attributes, bytes, mtime and directory unchanged" {
	"$SIM" transcript "$D" user:user09 u09.jsonl
	mkdir ro rw
	cp "$D/users.keyring" ro/users.keyring
	cp "$D/users.keyring" rw/users.keyring
	chmod 400 ro/users.keyring
	chmod 500 ro
	owner_key
	export SOURCE_DATE_EPOCH=1800000000
	cbd-attribute -q -t "$D/triggers.json" -K "$D/users.keyring" \
		--json u09.jsonl >want.json
	grep -q '"attributed": \["user09"\]' want.json
	for ring in ro/users.keyring rw/users.keyring; do
		before=$(fingerprint "$ring")
		unprivileged touch "${ring%/*}/probe" 2>/dev/null &&
			[ "$ring" = rw/users.keyring ]
		rm -f rw/probe
		run unprivileged cbd-attribute -q -t "$D/triggers.json" -K "$ring" --json u09.jsonl
		[ "$status" -eq 0 ] || { echo "$ring: $output"; return 1; }
		[ "$output" = "$(cat want.json)" ]
		run unprivileged cbd-keygen list -K "$ring"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 21 ]
		run unprivileged cbd-keygen show user09 -K "$ring"
		[ "$status" -eq 0 ]
		run unprivileged cbd-keygen export-public -K "$ring"
		[ "$status" -eq 0 ]
		run unprivileged cbd-embed "$MODEL" -m trace \
			-k owner.key -K "$ring" -u user09 -d copies
		[ "$status" -eq 0 ] || { echo "$ring: $output"; return 1; }
		[ "$(fingerprint "$ring")" = "$before" ] ||
			{ echo "$ring changed: $before"; fingerprint "$ring"; return 1; }
	done
	# revoke writes, and says so on the read-only file
	run unprivileged cbd-keygen revoke user09 -K ro/users.keyring
	[ "$status" -ne 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "cbd-keygen: error: "*"ro/users.keyring"* ]]
	chmod 700 ro
}

@test "thread count does not change attribution over a 1,100-user database: byte-identical reports" {
	mkdir big
	"$SIM" setup big 1100 64
	cbd-keygen convert big/keyring.json big.keyring >/dev/null
	# 60% noise: the leaker near the threshold, many tied innocents, so
	# the order of rows (matches, then keyring order) is exercised
	"$SIM" transcript big noise:user421:60 n.jsonl
	"$SIM" transcript big user:user1077 u.jsonl
	export SOURCE_DATE_EPOCH=1800000000
	for t in n u; do
		cbd-attribute -q -j 1 -t big/triggers.json -K big.keyring \
			--full-table -o "$t-1.json" "$t.jsonl" || [ $? -eq 1 ]
		[ "$(jq .parameters.users_tested "$t-1.json")" -eq 1100 ]
		[ "$(jq '.users | length' "$t-1.json")" -eq 1100 ]
		for j in 2 3 5 64; do
			cbd-attribute -q -j "$j" -t big/triggers.json -K big.keyring \
				--full-table -o "$t-$j.json" "$t.jsonl" || [ $? -eq 1 ]
			cmp "$t-1.json" "$t-$j.json"
		done
		# the default (every core, or CBD_THREADS) and the top-20 table too
		CBD_THREADS=4 cbd-attribute -q -t big/triggers.json -K big.keyring \
			-o "$t-env.json" "$t.jsonl" || [ $? -eq 1 ]
		cbd-attribute -q -j 1 -t big/triggers.json -K big.keyring \
			-o "$t-top.json" "$t.jsonl" || [ $? -eq 1 ]
		cmp "$t-env.json" "$t-top.json"
	done
	[ "$(jq -c .verdict.attributed u-1.json)" = '["user1077"]' ]
	# the keyring digest is that of the database's canonical rows either way
	[ "$(jq -r .evidence.keyring n-1.json)" = "$(jq -r .evidence.keyring n-64.json)" ]
}
