import threading


def work(n):
    total = 0
    for i in range(n):
        total += step(i)
    return total


def step(i):
    return i % 7


def worker(n, out, idx):
    out[idx] = work(n)


out = [0] * 3
ts = [threading.Thread(target=worker, args=(200 * (i + 1), out, i)) for i in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(out)
