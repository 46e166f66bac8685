def count(n):
    i = 0
    while i < n:
        yield i
        i += 1


def squares(it):
    for x in it:
        yield x * x


def delegate(n):
    yield from count(n)
    return n


total = sum(squares(count(100)))
pairs = list(zip(count(5), delegate(7)))
gen = (x + 1 for x in count(10))
print(total, pairs, sum(gen))
