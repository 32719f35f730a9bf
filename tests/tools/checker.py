#!/usr/bin/env python3
"""checker.py -- the one verdict every fault scenario gives (issue 8, item 1).

In the spirit of Jepsen's checkers: given what was acknowledged to the
publishing applications and what each partner holds or delivered after the
heal, count per partner

  lost        acknowledged but missing
  duplicated  held or delivered more than once
  reordered   within one stream, an acknowledged message held at a lower seq
              (or delivered earlier) than one acknowledged before it
  diverged    partners whose convergence digest differs from the first's

and print one line: scenario, cycles, acknowledged, lost, duplicated,
reordered, diverged, converged after N s. Exit 0 when all are 0, else 1; with
--expect-loss (a run against relaxed durability, which must be caught) exit 0
only when something acknowledged was lost.

Inputs:
  --acked FILE        the acknowledged message ids, one per line, in the order
                      they were acknowledged (the id is the payload's
                      "incident_id", which the scenarios make unique)
  --holder NAME=FILE  what partner NAME holds or delivered: JSON lines as
                      `knoop audit replay` or `knoop sub` print them
                      (repeatable)
  --digest NAME=HEX   partner NAME's convergence digest (repeatable)
  --converged S       seconds from heal until the digests agreed (or "never")
  --injected TEXT     what was done to the system, for the table

With KNOOP_SURVIVES_OUT set, the line is also appended to that file as a
tab-separated row (scenario, injected, cycles, acknowledged, lost,
duplicated, reordered, diverged, converged), from which
tests/survives.sh writes the README's "What it survives" table.
"""
import argparse
import collections
import json
import os
import sys


def read_holder(path):
    """[(stream, seq, id)] in file order from JSON lines."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue
            p = o.get("payload") or {}
            mid = p.get("incident_id") if isinstance(p, dict) else None
            if mid is None:
                continue
            stream = (o.get("origin"), o.get("topic"), o.get("epoch"))
            try:   # a number, or a string (proto3 JSON writes 64-bit integers so)
                seq = int(o.get("seq") or 0)
            except (TypeError, ValueError):
                seq = 0
            rows.append((stream, seq, mid))
    return rows


def check_holder(acked_index, rows):
    held = collections.Counter(mid for _, _, mid in rows)
    lost = sum(1 for mid in acked_index if held[mid] == 0)
    dup = sum(n - 1 for n in held.values() if n > 1)
    # per stream, in seq order (journal) or arrival order (delivery)
    by_stream = collections.defaultdict(list)
    seen = set()
    for pos, (stream, seq, mid) in enumerate(rows):
        if mid in acked_index and mid not in seen:   # a duplicate is counted once, above
            seen.add(mid)
            by_stream[stream].append((seq if seq else pos, pos, acked_index[mid]))
    reordered = 0
    for items in by_stream.values():
        items.sort()
        last = -1
        for _, _, a in items:
            if a < last:
                reordered += 1
            last = max(last, a)
    return lost, dup, reordered


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--injected", default="")
    ap.add_argument("--cycles", type=int, default=1)
    ap.add_argument("--acked", required=True)
    ap.add_argument("--holder", action="append", default=[])
    ap.add_argument("--digest", action="append", default=[])
    ap.add_argument("--converged", default="")
    ap.add_argument("--expect-loss", action="store_true")
    a = ap.parse_args()

    with open(a.acked, encoding="utf-8") as f:
        acked = [l.strip() for l in f if l.strip()]
    acked_index = {}
    for i, mid in enumerate(acked):
        acked_index.setdefault(mid, i)
    if not a.holder:
        print("checker: no --holder given: nothing to check against", file=sys.stderr)
        return 2

    lost = dup = reordered = 0
    details = []
    for h in a.holder:
        name, _, path = h.partition("=")
        l, d, r = check_holder(acked_index, read_holder(path))
        lost, dup, reordered = max(lost, l), max(dup, d), max(reordered, r)
        if l or d or r:
            details.append(f"{name}: lost {l}, duplicated {d}, reordered {r}")
    digests = [d.partition("=") for d in a.digest]
    diverged = 0
    if digests:
        first = digests[0][2]
        odd = [n for n, _, hx in digests if hx != first or not hx]
        diverged = len(odd)
        if odd:
            details.append("digest differs from %s's: %s" % (digests[0][0], ", ".join(odd)))
    conv = a.converged if a.converged else "-"
    conv_text = "never" if conv == "never" else ("%s s" % conv if conv != "-" else "-")
    print(f"{a.scenario}: cycles {a.cycles}, acknowledged {len(acked)}, lost {lost}, "
          f"duplicated {dup}, reordered {reordered}, diverged {diverged}, "
          f"converged after {conv_text}")
    for d in details:
        print("  " + d)

    out = os.environ.get("KNOOP_SURVIVES_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write("\t".join(str(x) for x in (
                a.scenario, a.injected, a.cycles, len(acked), lost, dup, reordered,
                diverged, conv_text)) + "\n")

    if a.expect_loss:
        return 0 if lost > 0 else 1
    if not acked:
        print("checker: nothing was acknowledged: the scenario proved nothing", file=sys.stderr)
        return 1
    return 0 if (lost == 0 and dup == 0 and reordered == 0 and diverged == 0
                 and conv != "never") else 1


if __name__ == "__main__":
    sys.exit(main())
