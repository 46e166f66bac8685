def key(word):
    return (len(word), word)


def by_last(word):
    return word[-1]


words = ["pear", "apple", "fig", "banana", "kiwi", "plum", "cherry"] * 5
print(sorted(words, key=key)[:3], max(words, key=by_last), sorted(words, key=lambda w: w[1])[:2])
