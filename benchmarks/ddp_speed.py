"""Per-step time of data-parallel training on 1 and 2 Gloo processes (``torchrun``, CPU).

The script makes one demo dataset, then launches ``torchrun --nproc-per-node N`` on itself
(``--worker``) for N = 1 and N = 2, alternately, ``--repeats`` times each. Every worker joins the
process group through :class:`fakezoo.train.cv.CrossValidator` and trains fold 1 with
``CrossValidator.fit_fold``: the whole network on every step (``cache_trunk=False``), the same
global batch (``--batch-size``) split between the processes, gradients all-reduced by
``DistributedDataParallel``. A step is timed from one optimiser step to the next (a global
``torch.optim`` step hook), so it holds the batch's preparation, forward, backward with its
all-reduce, and the update; the interval across each epoch's validation is left out. Each
process runs one torch thread (``OMP_NUM_THREADS=1``), so two processes use two cores.

Printed: the median step time on 1 and 2 processes, the steps measured, and their ratio
(2 processes / 1; 0.5 would be perfect scaling).

Usage:
    ```bash
    python benchmarks/ddp_speed.py --n-per-class 48 --image-size 64 --batch-size 16 \\
        --epochs 4 --repeats 2
    python benchmarks/ddp_speed.py --n-per-class 12 --image-size 32 --batch-size 4 \\
        --epochs 2 --repeats 1   # a smoke run
    ```
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument(
        "--finetune", action=argparse.BooleanOptionalAction, default=True, help="policy"
    )
    parser.add_argument("--n-per-class", type=int, default=48, help="demo images per class")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="launches per process count")
    parser.add_argument("--workdir", help="where the demo data goes (default: a temp folder)")
    parser.add_argument("--json", help="write the measured steps here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args: argparse.Namespace) -> None:
    """One ``torchrun`` process: train fold 1, rank 0 writes the step times to ``--out``."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    import fakezoo

    cv = fakezoo.CrossValidator(
        n_splits=2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        pretrained=False,
        device="cpu",
        cache_trunk=False,
        drop_rate=0.0,
        progress=False,
    )
    template = cv.template(args.model, finetune=args.finetune)
    decoded = cv.decode(args.data, template.preprocessing.image_size)
    train_idx, val_idx = cv.make_folds(decoded)[0]
    steps: list[float] = []
    last: list[float | None] = [None]

    def after_step(*_) -> None:
        now = time.perf_counter()
        if last[0] is not None:
            steps.append(now - last[0])
        last[0] = now

    def after_epoch(epoch: int, accuracy: float) -> None:
        last[0] = None  # the next interval would hold the validation

    hook = register_optimizer_step_post_hook(after_step)
    try:
        cv.fit_fold(template, decoded, train_idx, val_idx, 1e-3, on_epoch=after_epoch)
    finally:
        hook.remove()
    if cv.world.main:
        per_epoch = -(-len(train_idx) // args.batch_size)
        Path(args.out).write_text(
            json.dumps({"world_size": cv.world.size, "steps": steps, "per_epoch": per_epoch})
        )


def launch(n: int, args: argparse.Namespace, data: Path, out: Path) -> dict:
    """``torchrun --nproc-per-node n`` on this script; its rank 0's step times."""
    argv = [TORCHRUN, "--nproc-per-node", str(n), __file__, "--worker", "--data", str(data)]
    argv += ["--out", str(out), "--model", args.model, "--image-size", str(args.image_size)]
    argv += ["--batch-size", str(args.batch_size), "--epochs", str(args.epochs)]
    argv += ["--finetune" if args.finetune else "--no-finetune"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FAKEZOO_PROGRESS": "0"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"torchrun --nproc-per-node {n} failed:\n{done.stdout}{done.stderr}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> dict:
    """Time the steps on 1 and 2 processes, print the medians and their ratio.

    Example:
        ```python
        main(["--n-per-class", "12", "--image-size", "32", "--epochs", "2", "--repeats", "1"])
        ```
    """
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    from fakezoo.synth.demo import make_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        data = make_demo_dataset(
            work / "demo", args.n_per_class, seed=0, image_size=max(args.image_size, 32)
        )
        steps: dict[int, list[float]] = {1: [], 2: []}
        for k in range(args.repeats):
            for n in (1, 2) if k % 2 == 0 else (2, 1):
                steps[n] += launch(n, args, data, work / f"steps-{n}-{k}.json")["steps"]
    medians = {n: statistics.median(s) for n, s in steps.items()}
    policy = "fine-tune" if args.finetune else "head only"
    print(
        f"{args.model} ({policy}, whole network every step), {2 * args.n_per_class} images at "
        f"{args.image_size} px, global batch {args.batch_size}, one torch thread a process"
    )
    for n in (1, 2):
        print(
            f"{n} process{'es' if n > 1 else ''}: median step {medians[n] * 1000:.1f} ms "
            f"({len(steps[n])} steps)"
        )
    ratio = medians[2] / medians[1]
    print(f"ratio: {ratio:.2f}x (2 processes / 1; 0.5 is perfect scaling)")
    result = {"medians_s": medians, "steps_s": steps, "ratio": ratio, "args": vars(args)}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
