#!/usr/bin/env bats
# torchvision.bats — today's classifier architectures, as torchvision
# exports them, in cbd's engine: EfficientNet-B0, MobileNetV3-Small,
# ConvNeXt-T, Swin-T, a small ViT of torchvision's VisionTransformer code
# and RegNetY-400MF, random weights (tools/make_test_models.py --bench,
# opset 17, dynamic batch) at 3x64x64 to keep the run short.  Each must
# answer like ONNX Runtime (max|diff| <= 1e-4 max|logit|, batch and sample
# by sample: build/tests/onnx_conformance --golden), and each must take a
# watermark: cbd-embed, cbd-sign triggers, and cbd-run on the exported
# triggers gives the owner's labels while the unsigned base images keep
# the bare model's.
#
# torch and torchvision (Debian python3-torch, python3-torchvision) are
# large and optional: without them every test skips, naming the package.

load helpers

MODELS="efficientnet_b0 mobilenet_v3_small convnext_tiny swin_t vit_s_16 regnet_y_400mf"

setup_file() {
	export TV="$BATS_FILE_TMPDIR/tv"
	mkdir -p "$TV"
	if ! $PY -c "import torch, torchvision" 2>/dev/null; then
		echo "torchvision missing (Debian python3-torchvision)" >"$TV/skip"
		return 0
	fi
	# one export of all six (about 30 s); a failure fails every test
	$PY "$CBD_TOP/tools/make_test_models.py" --bench \
		--size=64 --batch=4 --only="${MODELS// /,}" "$TV" \
		>"$TV/export.log" 2>&1 || echo failed >"$TV/export-failed"
	# base images for the triggers: 8 in [0,1]
	$PY -c "import numpy as np, sys
np.save(sys.argv[1], np.random.default_rng(7).random((8, 3, 64, 64)).astype(np.float32))" \
		"$TV/base.npy"
	(cd "$TV" && owner_key)
}

setup() {
	[ ! -f "$TV/skip" ] || skip "$(cat "$TV/skip")"
	if [ -f "$TV/export-failed" ]; then
		cat "$TV/export.log"
		return 1
	fi
	cd "$TV"
}

# NAME: cbd against ONNX Runtime on NAME-input.npy (4 standard-normal images)
agrees_with_ort() {
	need_ort || return 1
	NODE_PATH="$ORT_MODULES" node "$CBD_TOP/tools/golden.js" \
		"$1.onnx" "$1-input.npy" "$1-golden.npy" >/dev/null
	run "$CBD_BUILD/tests/onnx_conformance" --golden 1 "$1" "$1.onnx" \
		"$1-input.npy" "$1-golden.npy"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok 1 - $1 vs ONNX Runtime: 4 samples"* ]]
}

# NAME: watermark archive, 8 signed triggers, their labels through cbd-run
answers_triggers() {
	cbd-embed "$1.onnx" -m watermark -k owner.key -o "$1.cbd" >/dev/null
	rm -rf "$1-trig"
	cbd-sign triggers -a "$1.cbd" -k owner.key --from base.npy -n 8 \
		-o "$1-t.json" --export "$1-trig" -q
	$PY -c 'import json,sys
for t in json.load(open(sys.argv[1]))["triggers"]: print(t["owner_label"])' \
		"$1-t.json" >"$1-owner.txt"
	[ "$(wc -l <"$1-owner.txt")" -eq 8 ]
	# one run (opening the archive is most of the time): the triggers,
	# then the unsigned base images, which keep the bare model's labels
	labels_of "$1.cbd" $(ls "$1-trig"/*.png | sort) base.npy >"$1-got.txt"
	head -n 8 "$1-got.txt" | cmp "$1-owner.txt" -
	labels_of "$1.onnx" base.npy >"$1-bare.txt"
	tail -n +9 "$1-got.txt" | cmp "$1-bare.txt" -
	[ "$(paste "$1-owner.txt" "$1-bare.txt" | awk '$1 == $2' | wc -l)" -eq 0 ]
}

@test "efficientnet_b0 (SiLU, squeeze-excite) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort efficientnet_b0
	answers_triggers efficientnet_b0
}

@test "mobilenet_v3_small (HardSwish, HardSigmoid) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort mobilenet_v3_small
	answers_triggers mobilenet_v3_small
}

@test "convnext_tiny (LayerNormalization, Erf GELU, 7x7 depthwise) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort convnext_tiny
	answers_triggers convnext_tiny
}

@test "swin_t (shifted windows: Pad, Slice/Concat roll, ScatterND mask, Dropout p=0) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort swin_t
	answers_triggers swin_t
}

@test "vit_s_16 (torchvision's VisionTransformer: class token, multi-head attention) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort vit_s_16
	answers_triggers vit_s_16
}

@test "regnet_y_400mf (grouped convolutions, squeeze-excite) runs like ONNX Runtime and answers its watermark triggers" {
	agrees_with_ort regnet_y_400mf
	answers_triggers regnet_y_400mf
}
