"""How long the `fakezoo` command and `import fakezoo` take to start, medians of N runs.

Each command runs in a fresh process. Beside the lazy start, the script times the eager
import that every command paid before names became lazy (the CV engine, which pulls in
torch, timm and torchvision), so the ratio is measured in the same run.

    python benchmarks/startup_time.py            # medians of 5
    python benchmarks/startup_time.py --runs 9
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(argv: list[str], runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` fresh processes (after one warm-up run)."""
    subprocess.run(argv, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("fakezoo")
    if exe is None:
        sys.exit("install fakezoo first: pip install -e .")
    py = sys.executable
    cases = [
        ("fakezoo --version", [exe, "--version"], 0.5),
        ("fakezoo --help", [exe, "--help"], 0.5),
        ("fakezoo cv --help", [exe, "cv", "--help"], 0.5),
        ("import fakezoo", [py, "-c", "import fakezoo"], 0.3),
        ("fakezoo models", [exe, "models"], 1.0),
    ]
    eager = timed([py, "-c", "import fakezoo.train.cv"], args.runs)
    print(
        f"median of {args.runs} fresh processes; eager import of the CV engine "
        f"(what every command paid before): {eager:.2f} s\n"
    )
    print(f"{'command':<22}{'median s':>10}{'target s':>10}{'eager/this':>12}")
    for name, argv, target in cases:
        t = timed(argv, args.runs)
        flag = "" if t < target else "  (over target)"
        print(f"{name:<22}{t:>10.3f}{target:>10.1f}{eager / t:>11.1f}x{flag}")


if __name__ == "__main__":
    main()
