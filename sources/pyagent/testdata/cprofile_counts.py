"""Run a program under cProfile and print its per-function call counts as
JSON: {"file:first_line:name": ncalls}. Worker threads are profiled too."""
import cProfile
import json
import pstats
import sys
import threading

path = sys.argv[1]
sys.argv = sys.argv[1:]
profs = []
if sys.version_info < (3, 12):
    # cProfile only sees the thread that enabled it: give each thread its own.
    _run = threading.Thread.run

    def run(self):
        p = cProfile.Profile()
        profs.append(p)
        p.enable()
        try:
            _run(self)
        finally:
            p.disable()

    threading.Thread.run = run

with open(path, "rb") as f:
    code = compile(f.read(), path, "exec")
g = {"__name__": "__main__", "__file__": path}
main = cProfile.Profile()
main.enable()
try:
    exec(code, g)
finally:
    main.disable()
st = pstats.Stats(main)
for p in profs:
    st.add(p)
out = {}
for (file, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
    if file == "~" or file.startswith("<"):
        continue
    out["%s:%d:%s" % (file, line, name)] = nc
sys.stdout.write("\n")
json.dump(out, sys.stdout)
