#!/usr/bin/env python3
"""promparse.py FILE: a strict parser of the Prometheus text exposition format 0.0.4.

Exits non-zero with a message at the first problem; otherwise prints every sample as a JSON line
{"name", "labels", "value"}. Checks: line syntax, metric and label names, label value escapes
(only \\\\, \\" and \\n), no duplicate label names, HELP/TYPE at most once per family and TYPE before
its samples, a family's samples contiguous, no duplicate series, values that parse as floats,
counters named *_total and never negative, histograms with _bucket{le} (le increasing, counts
non-decreasing, a le="+Inf" bucket equal to _count) plus _sum and _count for every label set, and a
final newline. Used by tests/bats/60-metrics.bats (prometheus_client cannot be installed here).
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(lineno, msg):
    sys.exit("line %d: %s" % (lineno, msg))


def parse_value(s, lineno):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        fail(lineno, "bad value %r" % s)
    return float(s)


def parse_labels(text, i, lineno):
    """text[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = LABEL.match(text, i)
        if not m:
            fail(lineno, "bad label name at %r" % text[i:])
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            fail(lineno, "expected =\" after label %s" % name)
        i += 2
        val = []
        while True:
            if i >= len(text):
                fail(lineno, "unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt == "\\":
                    val.append("\\")
                elif nxt == '"':
                    val.append('"')
                elif nxt == "n":
                    val.append("\n")
                else:
                    fail(lineno, "bad escape \\%s" % nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                fail(lineno, "raw newline in a label value")
            else:
                val.append(c)
                i += 1
        if name in labels:
            fail(lineno, "duplicate label %s" % name)
        labels[name] = "".join(val)
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] == "}":
            pass
        else:
            fail(lineno, "expected , or } after a label")


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


def main():
    raw = open(sys.argv[1], encoding="utf-8").read()
    if raw and not raw.endswith("\n"):
        sys.exit("the exposition does not end with a newline")
    types, helps, samples, seen_series = {}, {}, [], set()
    done_families, current = set(), None
    for lineno, line in enumerate(raw.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    fail(lineno, "bad metric name %r" % name)
                table = helps if parts[1] == "HELP" else types
                if name in table:
                    fail(lineno, "second %s for %s" % (parts[1], name))
                if name in done_families or (current == name and parts[1] == "TYPE" and
                                             any(s["family"] == name for s in samples)):
                    fail(lineno, "%s for %s after its samples" % (parts[1], name))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        fail(lineno, "bad TYPE line")
                    types[name] = parts[3]
                else:
                    helps[name] = parts[3] if len(parts) == 4 else ""
            continue
        if not line.strip():
            continue
        m = NAME.match(line)
        if not m:
            fail(lineno, "bad sample line %r" % line)
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, lineno)
        rest = line[i:]
        if not rest.startswith(" "):
            fail(lineno, "expected a space before the value")
        fields = rest.split()
        if len(fields) not in (1, 2):
            fail(lineno, "expected VALUE [TIMESTAMP]")
        value = parse_value(fields[0], lineno)
        fam = family_of(name, types)
        if fam != current:
            if fam in done_families:
                fail(lineno, "samples of %s are not contiguous" % fam)
            if current is not None:
                done_families.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            fail(lineno, "duplicate series %s%s" % (name, labels))
        seen_series.add(key)
        t = types.get(fam, "untyped")
        if t == "counter":
            if not name.endswith("_total"):
                fail(lineno, "counter %s does not end in _total" % name)
            if not value >= 0:
                fail(lineno, "negative counter %s" % name)
        if t == "histogram" and name == fam:
            fail(lineno, "histogram %s has a bare sample" % name)
        if t == "histogram" and name.endswith("_bucket") and "le" not in labels:
            fail(lineno, "bucket without le")
        samples.append({"family": fam, "name": name, "labels": labels, "value": value, "line": lineno})

    # histograms
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for s in samples:
            if s["family"] != fam:
                continue
            base = tuple(sorted((k, v) for k, v in s["labels"].items() if k != "le"))
            g = groups.setdefault(base, {"buckets": [], "sum": None, "count": None})
            if s["name"] == fam + "_bucket":
                g["buckets"].append((parse_value(s["labels"]["le"], s["line"]), s["value"], s["line"]))
            elif s["name"] == fam + "_sum":
                g["sum"] = s["value"]
            elif s["name"] == fam + "_count":
                g["count"] = s["value"]
        for base, g in groups.items():
            b = g["buckets"]
            if not b or b[-1][0] != math.inf:
                sys.exit("%s%s: no le=\"+Inf\" bucket last" % (fam, dict(base)))
            for (le1, c1, _), (le2, c2, ln) in zip(b, b[1:]):
                if not le2 > le1:
                    fail(ln, "%s: le not increasing" % fam)
                if c2 < c1:
                    fail(ln, "%s: bucket counts decrease" % fam)
            if g["sum"] is None or g["count"] is None:
                sys.exit("%s%s: _sum or _count missing" % (fam, dict(base)))
            if g["count"] != b[-1][1]:
                sys.exit("%s%s: _count %s != +Inf bucket %s" % (fam, dict(base), g["count"], b[-1][1]))
    for s in samples:
        print(json.dumps({"name": s["name"], "labels": s["labels"], "value": s["value"]}))


main()
