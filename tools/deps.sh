#!/bin/sh
# deps.sh — install the Debian packages listed in tools/debian-packages.txt.
# A no-op when everything is present; otherwise `apt-get update` then
# `apt-get install` (as root, or through sudo when it exists).
# Extra package names given as arguments are installed the same way.
set -eu
here=$(dirname "$0")
# Arguments name extra packages (e.g. python3-torchvision for bench models).
list="$(grep -v '^#' "$here/debian-packages.txt" | grep -v '^$') $*"
missing=""
for p in $list; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "deps: error: need root to install:$missing" >&2
	exit 77
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
