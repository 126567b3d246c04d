"""Peak resident memory and images/s of a head-only cross-validation against N, with the
decoded images and the trunk output in memory and out of core (memory-mapped files).

Each (N, way) runs in a fresh Python process, which reports its own peak resident memory
(``ru_maxrss``) and the images/s of its ``CrossValidator.run`` (decoding, the trunk pass and
training, over N images). ``memory`` gives a budget far above the data; ``disk`` gives 1 kB,
so everything past it lives in memory-mapped files in a temporary cache folder. The images
are generated once per N (small JPEGs whose tint depends on the label).

Usage:
    ```bash
    python benchmarks/scale.py                 # N = 2,000, 8,000, 32,000 at 32 px
    python benchmarks/scale.py --quick         # N = 200, 800: a check that it runs
    ```
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WAYS = {"memory": "64GB", "disk": "1kB"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        ```python
        parse_args(["--quick"]).sizes  # [200, 800]
        ```
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--quick", action="store_true", help="N = 200 and 800 only")
    parser.add_argument("--ways", nargs="+", choices=sorted(WAYS), default=["memory", "disk"])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--finetune", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--child", nargs=3, metavar=("DATA", "WAY", "CACHE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [200, 800]
    return args


def make_images(folder: Path, n: int, size: int) -> Path:
    """``n`` JPEGs of ``size`` px, half real and half fake (fakes are redder)."""
    from PIL import Image

    rng = np.random.default_rng(n)
    for label in ("real", "fake"):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label = "fake" if i % 2 else "real"
        pixels = rng.integers(0, 200, (size, size, 3), dtype=np.uint8)
        pixels[..., 0] += 40 if label == "fake" else 0
        Image.fromarray(pixels).save(folder / label / f"{i:06d}.jpg", quality=90)
    return folder


def child(args: argparse.Namespace) -> None:
    """One run in this process: print its peak memory and speed as JSON."""
    import torch

    import fakezoo

    torch.set_num_threads(args.threads)
    data, way, cache = args.child
    cv = fakezoo.CrossValidator(
        n_splits=2,
        epochs=args.epochs,
        batch_size=32,
        pretrained=False,
        image_size=args.image_size,
        device="cpu",
        trunk_backend="torch",
        memory_budget=WAYS[way],
        cache_dir=cache,
        num_workers=1,
        progress=False,
        save_weights=False,
    )
    start = time.perf_counter()
    result = cv.run(args.model, data, args.finetune, 1e-3)
    seconds = time.perf_counter() - start
    n = sum(f.n_val for f in result.folds)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    print(json.dumps({"n": n, "way": way, "peak_mib": peak_kb / 1024, "images_s": n / seconds}))


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.child:
        child(args)
        return []
    rows = []
    kind = "fine-tune" if args.finetune else "head only"
    print(f"model {args.model}, {kind}, {args.image_size} px, {args.epochs} epoch(s), 2 folds, "
          f"{args.threads} thread(s)")  # fmt: skip
    print(f"{'N':>7} {'way':>7} {'peak RSS MiB':>13} {'images/s':>9}")
    with tempfile.TemporaryDirectory(prefix="fakezoo-scale-") as tmp:
        for n in args.sizes:
            data = make_images(Path(tmp) / f"data-{n}", n, args.image_size)
            for way in args.ways:
                cache = Path(tmp) / f"cache-{n}-{way}"
                command = [sys.executable, __file__, "--child", str(data), way, str(cache)]
                command += ["--model", args.model, "--image-size", str(args.image_size)]
                command += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
                command += ["--finetune" if args.finetune else "--no-finetune"]
                env = {**os.environ, "TQDM_DISABLE": "1"}
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    sys.exit(f"N={n} {way} failed:\n{done.stderr[-2000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{n:>7} {way:>7} {row['peak_mib']:>13.0f} {row['images_s']:>9.0f}")
    for way in args.ways:
        peaks = [r["peak_mib"] for r in rows if r["way"] == way]
        if len(peaks) > 1:
            print(f"{way}: peak RSS at N={args.sizes[-1]} is {peaks[-1] / peaks[0]:.2f}x "
                  f"that at N={args.sizes[0]}")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
