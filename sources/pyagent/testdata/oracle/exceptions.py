class Boom(Exception):
    pass


def deep(n):
    if n == 0:
        raise Boom("bottom")
    return deep(n - 1)


def catcher(n):
    try:
        return deep(n)
    except Boom:
        return -1


def finally_user(n):
    try:
        return catcher(n)
    finally:
        cleanup()


def cleanup():
    return None


for i in range(20):
    finally_user(i % 5)
try:
    deep(3)
except Boom as e:
    print("caught", e)
