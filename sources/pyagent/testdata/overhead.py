"""Times call-heavy code; prints ns per Python call, in CPU time of this
process (all its threads, the tracer's included; not the time it waited for
a CPU on a busy machine).

    python overhead.py fib|method N [cprofile]
"""
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self, k):
        self.n += k
        return self.n


def method_loop(n):
    c = Counter()
    for i in range(n):
        c.bump(i)
    return c.n


def fib_calls(n):
    a, b = 1, 1  # calls(0) = calls(1) = 1; calls(n) = 1 + calls(n-1) + calls(n-2)
    for _ in range(n - 1):
        a, b = b, 1 + a + b
    return b if n >= 1 else 1


def main():
    what, n = sys.argv[1], int(sys.argv[2])
    prof = None
    if len(sys.argv) > 3 and sys.argv[3] == "cprofile":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.process_time_ns()
    if what == "fib":
        fib(n)
        calls = fib_calls(n)
    else:
        method_loop(n)
        calls = n + 1
    dt = time.process_time_ns() - t0
    if prof is not None:
        prof.disable()
    print("ns_per_call %.2f" % (dt / calls))


main()
