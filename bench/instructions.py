#!/usr/bin/env python3
"""Instructions per proxied request, counted by callgrind, against a checked-in baseline.

`make bench-instructions` runs this: a `--profile profiling` build of `keygate` serves the
bench's `json:1` scenario (`KEYGATE_BENCH_ONLY=json:1 KEYGATE_BENCH_REQUESTS=500`: 3 700
proxied requests, warm-up included) under `valgrind --tool=callgrind --separate-threads=yes`.
Instruction counts do not depend on the machine's load, so they can gate a change where
latency cannot. Per thread, divided by the requests:

- workers: the two tokio worker threads, the request path;
- writer_row: the usage writer's thread (the one that runs SQLite), less what it does once
  per batch;
- per_batch: what the writer does once per batch (BEGIN, COMMIT, the rollup upserts), per
  batch: how many batches the rows make follows timing under valgrind (184 in one run, 266 in
  the next, same build), so a per-request writer figure moves by a sixth between runs;
- whole_row: every thread of the serving process, start-up included, less the per-batch work.

The run fails when workers, writer_row or whole_row exceed the baseline by more than 3 %, or
per_batch by more than 10 % (they repeat within ±1 %). The writer's and the process's plain
per-request figures and the batch count are printed beside them. `--update` writes the
measured figures as the new baseline (bench/instructions-baseline.json), for a change that is
meant to cost more, or after one that saved something.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "bench" / "instructions-baseline.json"
REQUESTS = 3700  # KEYGATE_BENCH_REQUESTS=500: 200 warm-up + 7 runs of 500
# Same binary, same scenario: workers and whole_row repeat within ±0.2 %, writer_row and
# per_batch within ±1 %.
TOLERANCE = {"workers": 0.03, "writer_row": 0.03, "per_batch": 0.10, "whole_row": 0.03}


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "keygate" / "target"))


def build() -> Path:
    cargo = os.environ.get("CARGO", "cargo")
    subprocess.run(
        [cargo, "build", "--profile", "profiling", "-p", "keygate-cli", "-p", "keygate-bench"],
        cwd=ROOT,
        check=True,
    )
    return target_dir() / "profiling"


def run(bin_dir: Path, out: Path) -> None:
    """The json:1 scenario with `keygate` wrapped in callgrind, one file per thread."""
    wrapper = out / "bin"
    wrapper.mkdir()
    script = wrapper / "keygate"
    script.write_text(
        "#!/bin/sh\n"
        f'exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="{out}/cg.%p" '
        f'"{bin_dir / "keygate"}" "$@"\n'
    )
    script.chmod(0o755)
    env = {
        **os.environ,
        "KEYGATE_BIN_DIR": str(wrapper),
        "KEYGATE_BENCH_ONLY": "json:1",
        "KEYGATE_BENCH_REQUESTS": "500",
        "KEYGATE_BENCH_RESULTS": str(out / "bench.json"),
    }
    result = subprocess.run(
        [str(bin_dir / "keygate-bench")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    if result.returncode != 0:
        sys.exit(f"the bench failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# What the writer does once per batch, not per row, as callgrind names the call edges
# (caller, callee): the transaction's COMMIT and BEGIN IMMEDIATE, and the rollup upserts.
# How many batches 3 700 rows make follows timing under valgrind (184 in one run, 266 in the
# next, same build), so these are counted per batch and the rest per row.
PER_BATCH_EDGES = (
    ("Transaction::commit", "rusqlite::Connection::execute_batch"),
    ("::write_batch", "rusqlite::Connection::execute_batch"),
    ("::write_batch", "RollupBatch::write"),
)
EDGE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+([<*])\s+\S+?:(.+?)(?: \(([\d,]+)x\))?(?: \[.*\])?$")


def per_batch(file: Path) -> tuple[int, int]:
    """(batches, instructions spent once per batch) of the writer's callgrind file."""
    tree = subprocess.run(
        ["callgrind_annotate", "--tree=caller", "--inclusive=yes", str(file)],
        capture_output=True, text=True, check=True,
    ).stdout
    callers: list[tuple[str, int, int]] = []
    spent, batches = 0, 0
    for line in tree.splitlines():
        match = EDGE.match(line)
        if not match:
            callers = []
            continue
        cost, mark, function, calls = match.groups()
        cost, calls = int(cost.replace(",", "")), int((calls or "0").replace(",", ""))
        if mark == "<":
            callers.append((function, cost, calls))
            continue
        for caller, edge_cost, edge_calls in callers:
            for want_caller, want_callee in PER_BATCH_EDGES:
                if want_caller in caller and want_callee in function:
                    spent += edge_cost
                    if want_callee == "RollupBatch::write":
                        batches += edge_calls
        callers = []
    return batches, spent


def counts(out: Path) -> dict[str, float]:
    """Per-request figures of the serving process (the one with the most instructions)."""
    by_pid: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for file in out.glob("cg.*"):
        match = re.fullmatch(r"cg\.(\d+)-(\d+)", file.name)
        if not match:
            continue
        text = file.read_text(errors="replace")
        total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if not total:
            continue
        # The writer is the thread that runs SQLite; the others are told apart by size.
        sqlite = len(re.findall(r"sqlite3", text))
        by_pid[match.group(1)].append((int(total.group(1)), sqlite, file))
    if not by_pid:
        sys.exit(f"callgrind wrote no per-thread files in {out}")
    threads = max(by_pid.values(), key=lambda ts: sum(t for t, _, _ in ts))
    whole = sum(t for t, _, _ in threads)
    writer = max(threads, key=lambda t: t[1])
    rest = sorted((t for t, s, f in threads if (t, s, f) != writer), reverse=True)
    workers = sum(rest[:2])
    batches, batch_spent = per_batch(writer[2])
    return {
        "workers": round(workers / REQUESTS),
        "writer_row": round((writer[0] - batch_spent) / REQUESTS),
        "per_batch": round(batch_spent / max(batches, 1)),
        "whole_row": round((whole - batch_spent) / REQUESTS),
        "writer": round(writer[0] / REQUESTS),
        "whole": round(whole / REQUESTS),
        "batches": batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write the figures as the new baseline")
    parser.add_argument("--keep", action="store_true", help="keep the callgrind files (printed path)")
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="the baseline to compare with")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    bin_dir = build()
    out = Path(tempfile.mkdtemp(prefix="keygate-instructions-"))
    try:
        run(bin_dir, out)
        got = counts(out)
    finally:
        if args.keep:
            print(f"callgrind files: {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)
    baseline = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
    print(f"instructions per proxied request (json:1, {REQUESTS} requests):")
    failed = []
    for name in ("workers", "writer_row", "per_batch", "whole_row", "writer", "whole"):
        base = baseline.get(name)
        line = f"  {name:<10} {got[name]:>8,}"
        if base:
            change = got[name] / base - 1
            line += f"   baseline {base:>8,}  {change:+.1%}"
            if name in TOLERANCE and change > TOLERANCE[name]:
                failed.append(f"{name} {change:+.1%} (at most +{TOLERANCE[name]:.0%})")
        if name not in TOLERANCE:
            line += "   (not gated: moves with the batches)"
        print(line)
    print(f"  {got['batches']} writer batches")
    if args.update:
        args.baseline.write_text(json.dumps({**got, "requests": REQUESTS, "scenario": "json:1"}, indent=2) + "\n")
        print(f"wrote {args.baseline}")
    elif failed:
        sys.exit(f"above the baseline: {', '.join(failed)}")


if __name__ == "__main__":
    main()
