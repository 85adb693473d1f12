"""`make bench`: run every benchmark in this folder, one after the other, at full size.

Each bench_*.py is a script with its own options (--help); results land in bench/results/.
Set BENCH_SMALL=1 for a quick smoke run at small sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
# the whole commands at the two sizes the targets name (bench_commands.py): a 20,000-user
# tenant (analyze against DuckDB) and 200,000 users with 50 million events
RUNS: list[tuple[str, list[str]]] = [
    ("bench_commands.py", ["--users", "20000", "--events", "5000000"]),
    ("bench_commands.py", []),
]
SMALL_ARGS = {
    "bench_simulator.py": [],
    "bench_collect.py": ["--users", "2000", "--records", "100000"],
    "bench_analyze.py": ["--users", "5000", "--events", "500000"],
    "bench_commands.py": ["--users", "5000", "--events", "500000", "--reps", "1"],
    "bench_report.py": ["--users", "2000"],
    "bench_web.py": ["--users", "2000"],
}


def main() -> int:
    small = os.environ.get("BENCH_SMALL") == "1"
    failed = []
    runs = [(s.name, []) for s in sorted(HERE.glob("bench_*.py")) if s.name != "bench_commands.py"]
    runs += [RUNS[0]] if small else RUNS
    for name, args in runs:
        args = SMALL_ARGS.get(name, []) if small else args
        print(f"== {name} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *args], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
