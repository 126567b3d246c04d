"""Training's trunk cache on a CPU: :func:`fakezoo.train.engine.compute_trunk` run by eager
PyTorch (channels_last, the plain way) and by ONNX Runtime (the runner prediction uses), timed
in one script on the same model and the same images.

``compute_trunk`` runs the frozen trunk once over every image of a cross-validation or a
head-only LR search; its output is cached and every fold and trial trains only the tail on it,
so on a CPU this one pass is most of a head-only search's cost. Each timed call of the ONNX
Runtime path starts from an empty session cache, so it pays the in-memory export and session
set-up every time, as a new process would. The two are timed alternately, ``--repeats`` times
each after one warm-up, and the medians, their ratio, the set-up time and the largest relative
difference of the cached features are printed.

Usage:
    ```bash
    python benchmarks/trunk_cache_speed.py --model mobilenet_v2 --images 256 --threads 1
    ```
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from fakezoo.models import backends
from fakezoo.models.build import create
from fakezoo.models.stages import split_trunk_tail
from fakezoo.train.engine import compute_trunk


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        ```python
        parse_args(["--images", "64"]).images  # 64
        ```
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--finetune", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args(argv)


def timed_trunk(model, images, backend: str, batch_size: int) -> tuple[float, torch.Tensor]:
    """Seconds of one ``compute_trunk`` call (float32 output) from an empty session cache.

    Example:
        ```python
        seconds, feats = timed_trunk(model, images, "torch", 64)
        ```
    """
    backends._SESSIONS.clear()
    start = time.perf_counter()
    out = compute_trunk(
        model,
        images,
        device="cpu",
        dtype=torch.float32,
        backend=backend,
        batch_size=batch_size,
        progress=False,
    )
    return time.perf_counter() - start, out


def setup_seconds(model, image_size: int) -> float:
    """Seconds to export the trunk and open its ONNX Runtime session.

    Example:
        ```python
        setup_seconds(model, 224)
        ```
    """
    backends._SESSIONS.clear()
    trunk, _ = split_trunk_tail(model)
    start = time.perf_counter()
    backends.trunk_runner(trunk, "onnxruntime", image_size)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Time both paths and print the medians and their ratio.

    Example:
        ```python
        main(["--images", "8", "--image-size", "64", "--repeats", "1"])
        ```
    """
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create(
        args.model, finetune=args.finetune, pretrained=False, image_size=args.image_size
    ).eval()
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(
        0,
        256,
        (args.images, 3, args.image_size, args.image_size),
        dtype=torch.uint8,
        generator=generator,
    )
    times: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    outputs = {}
    for k in range(args.repeats + 1):  # the first round warms up
        for backend in times:
            seconds, outputs[backend] = timed_trunk(model, images, backend, args.batch_size)
            if k:
                times[backend].append(seconds)
    setup = setup_seconds(model, args.image_size)
    eager, ort = (statistics.median(times[b]) for b in ("torch", "onnxruntime"))
    ref = outputs["torch"]
    rel = float((outputs["onnxruntime"] - ref).abs().max() / ref.abs().max())
    per_image_gain = (eager - (ort - setup)) / args.images
    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"{args.model} ({'finetune' if args.finetune else 'head only'}) trunk cache of "
        f"{args.images} images at {args.image_size}px, batch {args.batch_size}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, load "
        f"{os.getloadavg()[0]:.1f}, medians of {args.repeats}"
    )
    print(f"eager channels_last: {eager:.2f}s ({', '.join(f'{s:.2f}' for s in times['torch'])})")
    print(
        f"onnxruntime:         {ort:.2f}s ({', '.join(f'{s:.2f}' for s in times['onnxruntime'])})"
        f", of which export + session {setup:.2f}s"
    )
    print(f"speed-up: {eager / ort:.2f}x; max relative difference of the cache {rel:.1e}")
    if per_image_gain > 0:
        print(f"break-even: about {setup / per_image_gain:.0f} images")
    else:
        print("break-even: never (ONNX Runtime is not faster per image here)")


if __name__ == "__main__":
    main()
