#!/usr/bin/env bash
# Check that every Go file of the module is gofmt-formatted, listing those
# that are not; with -w, rewrite them instead. testdata/ and hidden
# directories are left alone.
set -euo pipefail

mapfile -d '' files < <(find . \( -name testdata -o -name vendor -o -name build -o -name '.?*' \) -prune \
	-o -type f -name '*.go' -print0)
[ ${#files[@]} -gt 0 ] || exit 0

if [ "${1:-}" = "-w" ]; then
	gofmt -l -w "${files[@]}"
	exit 0
fi

bad=$(gofmt -l "${files[@]}")
if [ -n "$bad" ]; then
	echo "gofmt: these files need formatting (run make fmt):" >&2
	echo "$bad" | sed 's/^/  /' >&2
	exit 1
fi
