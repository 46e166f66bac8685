"""A program that walks through much of the standard library, so its
trace has several hundred distinct functions (for the callgraph layout
benchmark)."""
import argparse
import collections
import csv
import dataclasses
import email.message
import email.parser
import io
import json
import re
import string
import textwrap
import urllib.parse
import xml.dom.minidom


@dataclasses.dataclass
class Row:
    name: str
    size: int


def parse_args():
    p = argparse.ArgumentParser(description="tour")
    p.add_argument("--n", type=int, default=3)
    p.add_argument("words", nargs="*")
    return p.parse_args(["--n", "4", "a", "b"])


def tour(n):
    rows = [Row("r%d" % i, i * i) for i in range(n)]
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in rows:
        w.writerow(dataclasses.astuple(r))
    list(csv.reader(io.StringIO(buf.getvalue())))
    doc = json.dumps([dataclasses.asdict(r) for r in rows], indent=1)
    json.loads(doc)
    msg = email.message.EmailMessage()
    msg["Subject"] = "tour"
    msg.set_content(textwrap.fill("word " * 40, 30))
    email.parser.Parser().parsestr(msg.as_string())
    urllib.parse.urlencode({"q": "a b", "n": n})
    urllib.parse.urlsplit("https://example.org/a/b?c=d#e")
    dom = xml.dom.minidom.parseString("<a><b x='1'>t</b><b/></a>")
    dom.toprettyxml()
    re.sub(r"(\w+)@(\w+)", r"\2 at \1", "me@host you@there")
    string.Template("$a and $b").substitute(a=1, b=2)
    collections.Counter("abracadabra").most_common(2)


if __name__ == "__main__":
    args = parse_args()
    for _ in range(args.n):
        tour(args.n)
