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
SMALL_ARGS = {
    "bench_simulator.py": [],
    "bench_collect.py": ["--users", "2000", "--records", "100000"],
    "bench_analyze.py": ["--users", "5000", "--events", "500000"],
    "bench_report.py": ["--users", "2000"],
    "bench_web.py": ["--users", "2000"],
}


def main() -> int:
    small = os.environ.get("BENCH_SMALL") == "1"
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        args = SMALL_ARGS.get(script.name, []) if small else []
        print(f"== {script.name} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(script), *args], check=False).returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
