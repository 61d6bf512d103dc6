# helpers.bash — shared by the bats suites (load it with `load helpers`).
#
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
	/usr/bin/python3 -c "import $1" 2>/dev/null && return 0
	echo "missing python3 module $1: Debian package $2 (tools/debian-packages.txt, make deps)" >&2
	return 1
}

# need_ort: ONNX Runtime for node, which tools/deps.sh installs into build/ort.
need_ort() {
	need node nodejs || return 1
	NODE_PATH="$CBD_TOP/build/ort/node_modules" node -e "require('onnxruntime-node')" 2>/dev/null && return 0
	echo "missing npm package onnxruntime-node in build/ort (tools/deps.sh, make deps)" >&2
	return 1
}
