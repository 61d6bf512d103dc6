#!/usr/bin/env bats
# circuit_formats.bats — circuit.json of every mode and trigger sets (and
# their .sig) validate against formats/circuit.schema.json and
# formats/triggers.schema.json (python3-jsonschema, draft 2020-12).  (That
# a non-canonical circuit.json is refused is tested in test_circuit.c.)

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	owner_key
}

validate() { # schema-file, json-file[, $defs name]
	$PY - "$@" <<-'EOF'
	import json, sys, jsonschema
	schema = json.load(open(sys.argv[1]))
	jsonschema.Draft202012Validator.check_schema(schema)
	if len(sys.argv) > 3:
	    schema = dict(schema["$defs"][sys.argv[3]], **{"$schema": schema["$schema"]})
	jsonschema.validate(json.load(open(sys.argv[2])), schema)
	EOF
}

@test "circuit.json of watermark, trace and auth archives follows the schema" {
	cbd-keygen investigator alice >/dev/null
	"$MK" new watermark "$MODEL" owner.key w.cbd
	"$MK" new trace "$MODEL" owner.key t.cbd -s "$(openssl rand -hex 32)"
	"$MK" new auth "$MODEL" owner.key a.cbd -u alice.pub -u owner.pub
	for m in w t a; do
		mkdir $m
		tar -xzf $m.cbd -C $m
		validate "$CBD_TOP/formats/circuit.schema.json" $m/circuit.json
	done
	grep -q '"mode":"trace"' t/circuit.json
	grep -q '"garbage_key":"' a/circuit.json
	# a schema violation is caught by the schema, too
	sed 's/"num_classes":10/"num_classes":1/' w/circuit.json >bad.json
	! validate "$CBD_TOP/formats/circuit.schema.json" bad.json 2>/dev/null
}

@test "trigger sets and their signatures follow the schema" {
	"$MK" new watermark "$MODEL" owner.key w.cbd
	digits b.npy :5
	cbd-sign triggers -a w.cbd -k owner.key --from b.npy -o t.json -q
	validate "$CBD_TOP/formats/triggers.schema.json" t.json
	validate "$CBD_TOP/formats/triggers.schema.json" t.json.sig signature
}
