#!/usr/bin/env bash
# Install the Debian packages given as arguments, but only those that are
# missing: a machine that has them all never runs apt-get.
#
#   scripts/deps.sh gcc pkg-config libgl1-mesa-dev ...
set -euo pipefail

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v go >/dev/null 2>&1; then
	echo "deps: go is not in PATH (expected at /usr/local/go/bin)" >&2
	exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: not a Debian-like system; install the equivalents of: $*" >&2
	exit 0
fi

missing=()
for pkg in "$@"; do
	installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

echo "deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
	if ! installed "$pkg"; then
		echo "deps: $pkg is still not installed" >&2
		exit 1
	fi
done
