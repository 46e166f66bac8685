#!/usr/bin/env bash
# Run every fuzz target in the module for FUZZTIME each (default 10s).
# Packages are those with a `func Fuzz` in a _test.go file; the targets in
# each are listed by `go test -list`. Inputs that fail are written by Go to
# the package's testdata/fuzz/FuzzXxx/ and become regression tests: commit them.
#
#   FUZZTIME=30s scripts/fuzz.sh [DIR...]
set -euo pipefail

fuzztime=${FUZZTIME:-10s}
[ $# -gt 0 ] || set -- .

mapfile -t dirs < <(grep -rlE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz[A-Z0-9_]' "$@" 2>/dev/null |
	xargs -r -n1 dirname | sort -u)
if [ ${#dirs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found"
	exit 0
fi

ran=0
failed=()
for d in "${dirs[@]}"; do
	case $d in /* | ./*) pkg=$d ;; *) pkg=./$d ;; esac
	mapfile -t targets < <(go test -list '^Fuzz' "$pkg" | grep -E '^Fuzz')
	for target in "${targets[@]}"; do
		echo "fuzz: $pkg $target for $fuzztime"
		ran=$((ran + 1))
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done

echo "fuzz: $((ran - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
