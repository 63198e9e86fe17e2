"""Print the mutation score from ``mutmut results --all true`` output (used by ``make mutate``; not a test).

Score = killed / (killed + survived + timeout-free others that ran); "no tests" mutants (code no
selected test reaches) count as survivors, "skipped"/"not checked" ones are listed but not scored.
"""
from __future__ import annotations

import collections
import sys


def main(path: str) -> int:
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors = []
    for line in open(path, encoding="utf-8"):
        key, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in key:
            continue
        module = ".".join(key.split("__mutmut_")[0].split(".")[:2])
        by_module[module][status] += 1
        if status in ("survived", "no tests"):
            survivors.append(f"{key}: {status}")
    if not by_module:
        print("no mutation results found: did `mutmut run` finish?")
        return 1
    total = collections.Counter()
    for module, counts in sorted(by_module.items()):
        total += counts
        print(f"{module}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    scored = sum(v for k, v in total.items() if k not in ("skipped", "not checked"))
    killed = total["killed"] + total["timeout"]  # a mutant that hangs the tests is detected too
    print(f"mutation score: {killed}/{scored} = {killed / scored:.1%} killed (timeouts count as killed)")
    print(f"{len(survivors)} surviving mutants (`.venv/bin/mutmut show NAME` prints one):")
    for s in survivors:
        print("  " + s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
