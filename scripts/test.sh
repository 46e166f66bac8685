#!/usr/bin/env bash
# What `make test` (and CI) runs: each check as its own make target, all of
# them even when one fails, then one summary. The last line is
#   test: N passed, N failed, N skipped
# counting every Go test (subtests included) plus each check other than
# go test itself (vet, gofmt, staticcheck, screenshot-check) as one item;
# a go test run that fails without a failed test (build error, timeout)
# counts as one failed item too. Exits 1 if anything failed.
#
#   scripts/test.sh [TARGET...]   (default: vet fmt-check staticcheck test-go screenshot-check)
set -uo pipefail

make=${MAKE:-make}
[ $# -gt 0 ] || set -- vet fmt-check staticcheck test-go screenshot-check

counts=build/gotest.counts
mkdir -p build
rm -f "$counts"

passed=0 failed=0 skipped=0
results=()
start=$SECONDS
for target in "$@"; do
	echo "=== make $target"
	t0=$SECONDS
	$make --no-print-directory "$target" GOTEST_COUNTS="$counts"
	rc=$?
	took=$((SECONDS - t0))s
	if [ "$target" = test-go ] && [ -s "$counts" ]; then
		read -r p f s <"$counts"
		passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			failed=$((failed + 1))
		fi
	elif [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	if [ "$rc" -eq 0 ]; then
		results+=("$target ok ($took)")
	else
		results+=("$target FAILED ($took)")
	fi
done

echo
printf '%s\n' "${results[@]}"
echo "total time $((SECONDS - start))s"
echo "test: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
