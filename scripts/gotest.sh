#!/usr/bin/env bash
# Run `go test -json` with the given arguments and print what a person needs:
# package results, the output of failed tests, skipped tests with their reason,
# and build errors. The last line is "go test: N passed, N failed, N skipped"
# (subtests count as tests). With GOTEST_COUNTS=FILE, "passed failed skipped"
# is also written to FILE. The raw event stream is kept in GOTEST_JSON
# (default build/gotest.json). Exits with go test's status.
#
#   scripts/gotest.sh -race -shuffle=on -count=1 -timeout 15m ./...
set -euo pipefail

json=${GOTEST_JSON:-build/gotest.json}
counts=${GOTEST_COUNTS:-}
mkdir -p "$(dirname "$json")"

py=/usr/bin/python3
[ -x "$py" ] || py=python3

filter='
import json, sys
counts = {"pass": 0, "fail": 0, "skip": 0}
tests = {}  # (package, test) -> output lines of a test still running
pkgs = {}   # package -> lines to print when the package is done
noise = ("=== RUN", "=== PAUSE", "=== CONT", "=== NAME")
def out(s):
    sys.stdout.write(s)
    sys.stdout.flush()
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        out(line)
        continue
    act = ev.get("Action")
    pkg = ev.get("Package") or ev.get("ImportPath") or ""
    test = ev.get("Test")
    text = ev.get("Output") or ""
    buf = pkgs.setdefault(pkg, [])
    if act == "build-output":
        out(text)
    elif test:
        key = (pkg, test)
        if act == "output":
            tests.setdefault(key, []).append(text)
        elif act in counts:
            counts[act] += 1
            lines = tests.pop(key, [])
            if act in ("fail", "skip"):
                buf.extend(l for l in lines if not l.startswith(noise))
    elif act == "output":
        if text.strip() not in ("PASS", "FAIL", "testing: warning: no tests to run"):
            buf.append(text)
    elif act in ("pass", "fail", "skip"):
        if act == "fail":
            # Tests that never finished (panic, timeout) failed: show what
            # they printed before the package result line.
            at = len(buf)
            while at > 0 and buf[at - 1].startswith(("FAIL\t", "ok  \t")):
                at -= 1
            for key in sorted(k for k in tests if k[0] == pkg):
                counts["fail"] += 1
                lines = tests.pop(key)
                buf[at:at] = lines
                at += len(lines)
        else:
            # The seed matters only to reproduce a failure.
            buf = [l for l in buf if not l.startswith("-test.shuffle")]
        out("".join(buf))
        pkgs.pop(pkg, None)
for pkg in sorted(pkgs):
    out("".join(pkgs[pkg]))
out("go test: %d passed, %d failed, %d skipped\n" % (counts["pass"], counts["fail"], counts["skip"]))
if len(sys.argv) > 1 and sys.argv[1]:
    with open(sys.argv[1], "w") as f:
        f.write("%d %d %d\n" % (counts["pass"], counts["fail"], counts["skip"]))
'

set +e
go test -json "$@" | tee "$json" | "$py" -u -c "$filter" "$counts"
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[2]}" -ne 0 ]; then
	echo "gotest.sh: the output filter failed; raw events are in $json" >&2
	[ "${status[0]}" -ne 0 ] || exit "${status[2]}"
fi
exit "${status[0]}"
