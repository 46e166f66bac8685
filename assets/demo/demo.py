"""Flowscape's demo program: a small shop whose classes call each other.

It shows the shapes a code-flow tracer must get right: classes calling each
other (like DTraceToolkit's func_abc), recursion, a generator, an exception
caught two frames up, a closure, sorted(key=...) and two worker threads.

    python3 demo.py [ROUNDS] [PAUSE_SECONDS]
"""

import sys
import threading
import time


class Inventory:
    def __init__(self):
        self.stock = {"apple": 5, "pear": 3, "plum": 0}

    def reserve(self, item, n):
        have = self.stock.get(item, 0)
        if have < n:
            raise OutOfStock(item)
        self.stock[item] = have - n
        return n

    def restock(self, item, n):
        self.stock[item] = self.stock.get(item, 0) + n


class OutOfStock(Exception):
    pass


class Pricing:
    def price(self, item):
        return {"apple": 3, "pear": 4, "plum": 7}[item]

    def discount(self, total):
        return total * 9 // 10 if total > 20 else total


class Shop:
    def __init__(self):
        self.inventory = Inventory()
        self.pricing = Pricing()

    def order(self, item, n):
        try:
            got = self.inventory.reserve(item, n)
        except OutOfStock:
            self.inventory.restock(item, 10)
            got = self.inventory.reserve(item, n)
        return self.pricing.discount(self.pricing.price(item) * got)

    def checkout(self, basket):
        return sum(self.order(item, n) for item, n in basket)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def make_scaler(k):
    def scale(x):
        return x * k

    return scale


def func_c():
    time.sleep(0.001)


def func_b():
    func_c()


def func_a():
    func_b()


def worker(name, rounds, pause):
    shop = Shop()
    for _ in range(rounds):
        shop.checkout([("apple", 2), ("plum", 1)])
        time.sleep(pause / 2)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    threads = [
        threading.Thread(target=worker, args=("w%d" % i, rounds, pause), name="worker-%d" % i)
        for i in range(2)
    ]
    for t in threads:
        t.start()
    shop = Shop()
    scale = make_scaler(3)
    for r in range(rounds):
        func_a()
        total = shop.checkout([("apple", 1), ("pear", 2), ("plum", 3)])
        ticks = sum(scale(x) for x in countdown(5))
        words = sorted(["pear", "apple", "fig"], key=len)
        print("round %d: total=%d fib=%d ticks=%d %s" % (r, total, fib(12), ticks, words[0]), flush=True)
        time.sleep(pause)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
