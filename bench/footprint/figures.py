"""Turns the raw outputs of the footprint measurements into figures (standard library only).

  figures.py hyperfine RESULT.json      whole-process times of a hyperfine run
  figures.py strace TRACE...            execve to the first GET .../invocation/next, one per trace
  figures.py rss TIME_V_OUTPUT          "Maximum resident set size" of /usr/bin/time -v, in MiB
  figures.py samples SAMPLES            VmRSS after 10 %, 50 % and all of a run's invocations
  figures.py feed SUMMARY.json          what a load run served and how the function answered

Distributions are printed as `median p90 min max n` in milliseconds; p90 is the nearest-rank
90th percentile.
"""

import json
import math
import re
import sys

NEXT = "GET /2018-06-01/runtime/invocation/next"
LINE = re.compile(r"^(?:\d+\s+)?(\d+\.\d+)\s+(\w+)\(")


def distribution(values_ms):
    values = sorted(values_ms)
    n = len(values)
    if not n:
        raise SystemExit("no samples")
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    p90 = values[max(0, math.ceil(0.9 * n) - 1)]
    return f"median={median:.2f}ms p90={p90:.2f}ms min={values[0]:.2f}ms max={values[-1]:.2f}ms n={n}"


def startup_ms(trace_path):
    """Milliseconds from the traced command's execve to the first write of the `next` request."""
    exec_at = None
    with open(trace_path) as trace:
        for line in trace:
            match = LINE.match(line)
            if not match:
                continue
            at, call = float(match.group(1)), match.group(2)
            if call == "execve" and exec_at is None and line.rstrip().endswith("= 0"):
                exec_at = at
            elif exec_at is not None and NEXT in line:
                return (at - exec_at) * 1000
    raise SystemExit(f"{trace_path}: no execve followed by a GET of the next invocation")


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    kind, paths = argv[1], argv[2:]
    if kind == "hyperfine":
        times = json.load(open(paths[0]))["results"][0]["times"]
        print(distribution([t * 1000 for t in times]))
    elif kind == "strace":
        print(distribution([startup_ms(p) for p in paths]))
    elif kind == "rss":
        text = open(paths[0]).read()
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        print(f"{kb / 1024:.1f} MiB")
    elif kind == "samples":
        # Lines of "invocations-so-far VmRSS-kB", taken every few seconds while the function ran.
        rows = [tuple(map(int, line.split())) for line in open(paths[0]) if len(line.split()) == 2]
        if not rows:
            raise SystemExit(f"{paths[0]}: no samples")
        total = rows[-1][0]
        picks = []
        for share in (0.1, 0.5, 1.0):
            n, kb = next(r for r in rows if r[0] >= share * total)
            picks.append(f"{kb / 1024:.1f} MiB after {n}")
        print(", ".join(picks))
    elif kind == "feed":
        summary = json.load(open(paths[0]))
        outcomes = ", ".join(f"{k}: {v}" for k, v in summary["outcomes"].items())
        print(f"{summary['invocations']} in {summary['seconds']}s ({outcomes})")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
