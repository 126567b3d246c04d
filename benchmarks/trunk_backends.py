"""The frozen trunk's forward pass on a CPU: eager PyTorch (plain and channels_last), ONNX
Runtime and ``torch.compile``, timed in one script on the same trunk and the same input.

For each engine it prints milliseconds per image (median of ``--repeats`` passes of one batch
after a warm-up), the ratio to plain eager PyTorch (contiguous NCHW, the baseline) and to eager
channels_last (what fakezoo uses by default), the one-time setup (export, session, compilation)
and how far the fold probabilities move: the trunk's output goes through the model's own tail
and the largest change of ``softmax[:, 1]`` is printed, next to the largest relative change of
the trunk's output (random-weight models often saturate the softmax, which hides differences).

Usage:
    ```bash
    python benchmarks/trunk_backends.py --model mobilenet_v2 --no-finetune
    python benchmarks/trunk_backends.py --model resnet50 --finetune --compile
    ```
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch

from fakezoo.inference.ensemble import run_stages
from fakezoo.models.backends import OnnxTrunk
from fakezoo.models.build import create
from fakezoo.models.stages import split_trunk_tail


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        ```python
        parse_args(["--model", "resnet50"]).model  # 'resnet50'
        ```
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--finetune", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile (its first call compiles: minutes)",
    )
    return parser.parse_args(argv)


def median_seconds(fn, x, repeats: int) -> float:
    """Median seconds of ``fn(x)`` after one warm-up call.

    Example:
        ```python
        median_seconds(lambda x: x + 1, 1, 3)
        ```
    """
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Trunk(torch.nn.Module):
    """A model's frozen trunk as one module (for channels_last and torch.compile)."""

    def __init__(self, stages) -> None:
        super().__init__()
        self.fns = torch.nn.ModuleList([s.fn for s in stages])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            x = fn(x)
        return x


def main(argv: list[str] | None = None) -> None:
    """Time every engine and print one line each.

    Example:
        ```python
        main(["--model", "mobilenet_v2", "--image-size", "64", "--repeats", "1"])
        ```
    """
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create(
        args.model, finetune=args.finetune, pretrained=False, image_size=args.image_size
    ).eval()
    stages, tail = split_trunk_tail(model)
    trunk = Trunk(stages).eval()
    x = torch.randn(args.batch, 3, args.image_size, args.image_size)
    rows = []
    with torch.inference_mode():
        reference = trunk(x)
        probs = run_stages(tail, reference).softmax(1)[:, 1]

        def row(name, fn, inp, setup):
            seconds = median_seconds(fn, inp, args.repeats)
            out = fn(inp)
            moved = float((run_stages(tail, out).softmax(1)[:, 1] - probs).abs().max())
            rel = float((out - reference).abs().max() / reference.abs().max())
            rows.append((name, seconds, setup, moved, rel))

        row("eager (plain NCHW)", trunk, x, 0.0)
        start = time.perf_counter()
        fast = Trunk(stages).eval().to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        row("eager channels_last", fast, x_cl, time.perf_counter() - start)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ort = OnnxTrunk(stages, x[:1])
        row("onnxruntime", ort, x, time.perf_counter() - start)
        if args.compile:
            start = time.perf_counter()
            compiled = torch.compile(fast)
            compiled(x_cl)
            row("torch.compile", compiled, x_cl, time.perf_counter() - start)
    base, cl = rows[0][1], rows[1][1]
    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"{args.model} ({'finetune' if args.finetune else 'head only'}) trunk "
        f"{stages[0].name}..{stages[-1].name}, batch {args.batch} at {args.image_size}px, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'engine':<22}{'ms/img':>9}{'vs plain':>10}{'vs cl':>8}{'setup s':>9}"
        f"{'max dprob':>11}{'rel dtrunk':>12}"
    )
    for name, seconds, setup, moved, rel in rows:
        print(
            f"{name:<22}{seconds * 1000 / args.batch:>9.1f}{base / seconds:>9.2f}x"
            f"{cl / seconds:>7.2f}x{setup:>9.1f}{moved:>11.1e}{rel:>12.1e}"
        )


if __name__ == "__main__":
    main()
