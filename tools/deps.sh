#!/bin/sh
# deps.sh — install what cbd needs to build, test, demo and bench.
#
# 1. The Debian packages listed in tools/debian-packages.txt (and any extra
#    names given as arguments): a no-op when everything is present, else
#    `apt-get update` then `apt-get install` (as root, or through sudo).
#    nodejs and npm count as present when the machine already has the
#    `node` / `npm` commands from elsewhere (a newer Node.js bundles npm;
#    Debian's npm package would conflict with it).
# 2. The npm package onnxruntime-node at the version pinned below and in
#    tools/ort/package-lock.json (every tarball's sha512), the independent
#    runtime the tests compare cbd against, into build/ort (git-ignored;
#    shared by build/ and build-san/).  --ignore-scripts: its
#    native library is bundled in the package, and the install script only
#    fetches optional GPU parts from outside the registry.  A failed npm
#    install (no registry, TLS) is reported and not fatal.
set -eu
here=$(dirname "$0")
top=$(cd "$here/.." && pwd)
ORT_VERSION=1.30.0   # also in tools/ort/package.json
list="$(grep -v '^#' "$here/debian-packages.txt" | grep -v '^$') $*"
missing=""
for p in $list; do
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	sudo="none"
fi
if [ -n "$missing" ]; then
	echo "deps: installing:$missing" >&2
	if [ "$sudo" = none ]; then
		echo "deps: error: need root to install:$missing" >&2
		exit 77
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

ort="$top/build/ort"
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
	"$ort/node_modules/onnxruntime-node/package.json" 2>/dev/null | head -n 1)
if [ "$have" != "$ORT_VERSION" ]; then
	echo "deps: installing npm onnxruntime-node@$ORT_VERSION into build/ort" >&2
	mkdir -p "$ort"
	cp "$here/ort/package.json" "$here/ort/package-lock.json" "$ort/"
	ci() { (cd "$ort" && npm ci --ignore-scripts --no-audit --no-fund \
		--loglevel=error "$@" >/dev/null 2>&1); }
	# tools/ort/package-lock.json pins the sha512 of every tarball and npm
	# ci checks each one, so the packages are authenticated by the
	# lockfile, not by TLS: where a TLS-intercepting proxy's CA is not in
	# node's store (a minimal root), fetching without TLS verification
	# still installs exactly the committed packages or fails.
	ci || ci --strict-ssl=false ||
		# not fatal: everything but the comparisons with ONNX Runtime
		# still builds and runs, and those tests fail naming the package
		echo "deps: warning: npm ci of onnxruntime-node@$ORT_VERSION failed;" \
			"the tests against ONNX Runtime will fail" >&2
fi
