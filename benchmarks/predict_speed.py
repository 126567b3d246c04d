"""Images per second of ``fakezoo.predict`` on a folder against a plain per-image loop and
against the ceiling, and its peak memory.

What is compared, in one process, on the same files and the same fold models:

* **fakezoo**: ``fakezoo.inference.api.predict(folder, model=run_dir)``: batches of
  ``--batch-size``, decoded by a thread pool while the models run on the previous batch,
  ``inference_mode``, and on CUDA bf16 autocast with channels_last.
* **ceiling** (``--ceiling-images``): the same Detector's forward pass alone (one pass of each
  shared trunk and one of each fold tail per batch) on images decoded beforehand, untimed; what
  ``fakezoo.predict`` would reach if decoding, batching and bookkeeping cost nothing.
* **peak memory** (``--memory-images``): resident memory while ``fakezoo.predict`` scores a
  folder of that many small JPEGs, and a folder a tenth of its size; it must not grow with the
  folder.
* **plain loop**: what one writes by hand: for each file, ``PIL.Image.open(...).convert("RGB")``,
  ``model.transform`` (torchvision Resize/ToTensor/Normalize), then a forward pass of that one
  image through each fold model under ``torch.no_grad()`` in fp32.

The run directory is made quickly by :class:`fakezoo.train.cv.CrossValidator` with
``pretrained=False``, ``--finetune`` or not (default not) and one epoch on the demo images:
its weights are nearly random, which does not matter for speed, and it is a real run
directory in the format ``fakezoo.load_run`` reads. Both methods are warmed up first (the
one-liner's first call loads the run; later calls hit its cache), then timed ``--repeats``
times, alternating, and the medians are printed. The two methods' probabilities are compared
as a sanity check.

Usage:
    ```bash
    python benchmarks/predict_speed.py                     # 64 images, mobilenet_v2, 224 px
    python benchmarks/predict_speed.py --images 2000 --model resnet50 --device cuda

The default (64 images, the study's 224 px, 3 folds, 3 repeats) takes about two minutes on two
CPU cores: on a CPU the plain loop's single-image forward passes dominate.
    ```
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fakezoo.data import load_dataset
from fakezoo.data.decode import decode_image
from fakezoo.inference.api import clear_cache, load, predict
from fakezoo.models.registry import get_spec
from fakezoo.runs.loader import load_run
from fakezoo.synth.demo import make_demo_dataset
from fakezoo.train.cv import CrossValidator
from fakezoo.train.engine import resolve_device


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        ```python
        parse_args(["--images", "100"]).images  # 100
        ```
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="demo images (half fake)")
    parser.add_argument("--image-size", type=int, default=224, help="model input size")
    parser.add_argument("--source-size", type=int, default=256, help="side of the demo JPEGs")
    parser.add_argument("--model", default="mobilenet_v2", help="fakezoo model name")
    parser.add_argument(
        "--finetune",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="freeze policy of the run (default: head only)",
    )
    parser.add_argument(
        "--ceiling-images",
        type=int,
        default=0,
        help="demo images for the ceiling comparison (0: skip)",
    )
    parser.add_argument(
        "--memory-images",
        type=int,
        default=0,
        help="small JPEGs for the peak-memory check (0: skip)",
    )
    parser.add_argument(
        "--memory-source-size", type=int, default=32, help="side of the memory check's JPEGs"
    )
    parser.add_argument("--folds", type=int, default=3, help="fold models in the ensemble")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for both methods (default: torch's)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the demo set and run directory here (reused when rerun); "
        "default: a temporary folder",
    )
    return parser.parse_args(argv)


def make_run(workdir: Path, args: argparse.Namespace, device: torch.device) -> tuple[Path, Path]:
    """The demo folder and a quickly trained run directory on it.

    Example:
        ```python
        folder, run_dir = make_run(Path("bench"), parse_args([]), torch.device("cpu"))
        ```
    """
    folder = make_demo_dataset(
        workdir / "demo",
        n_per_class=max(args.images // 2, args.folds),
        seed=0,
        image_size=args.source_size,
        progress=False,
    )
    policy = "finetune" if args.finetune else "head"
    run_dir = workdir / f"run-{args.model}-{policy}-{args.image_size}-{args.folds}"
    if (run_dir / "config.json").is_file():
        return folder, run_dir
    cv = CrossValidator(
        n_splits=args.folds,
        epochs=1,
        batch_size=32,
        pretrained=False,
        image_size=args.image_size,
        device=device,
        progress=False,
    )
    cv.run(args.model, load_dataset(folder), finetune=args.finetune, lr=1e-3, out_dir=run_dir)
    return folder, run_dir


def plain_loop(
    files: list[Path], models: list[torch.nn.Module], device: torch.device
) -> list[float]:
    """The hand-written baseline: one image at a time through each fold model, fp32.

    Example:
        ```python
        probs = plain_loop(files, [f.model for f in load_run("run").folds], torch.device("cpu"))
        ```
    """
    transform = models[0].transform
    out = []
    with torch.no_grad():
        for path in files:
            x = transform(Image.open(path).convert("RGB")).unsqueeze(0).to(device)
            probs = [model(x).softmax(dim=1)[0, 1].item() for model in models]
            out.append(sum(probs) / len(probs))
    return out


def fakezoo_predict(
    folder: Path, run_dir: Path, device: torch.device, batch_size: int
) -> list[float]:
    """The one-liner on the whole folder; returns ``prob_fake`` in sorted path order.

    Example:
        ```python
        probs = fakezoo_predict(Path("demo"), Path("run"), torch.device("cpu"), 32)
        ```
    """
    preds = predict(folder, model=run_dir, device=device, batch_size=batch_size, progress=False)
    failed = [p for p in preds if p.error]
    if failed:
        raise RuntimeError(f"{len(failed)} images failed: {failed[:3]}")
    return [p.prob_fake for p in preds]


def make_folder(folder: Path, n: int, size: int) -> Path:
    """``n`` small noise JPEGs of ``size`` px under ``folder/real`` and ``folder/fake`` (for the
    memory check: cheap to write, real files to decode).

    Example:
        ```python
        make_folder(Path("small"), 100, 32)
        ```
    """
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == n:
        return folder
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / ("fake" if i % 2 else "real")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:06d}.jpg", quality=90)
    return folder


def ceiling(files: list[Path], detector, batch_size: int) -> tuple[float, float]:
    """The ceiling: seconds of one trunk pass + k tail passes per batch on pre-decoded tensors
    (decoding not timed), and the seconds decoding took.

    Example:
        ```python
        seconds, decode_s = ceiling(files, fakezoo.load(run_dir, device="cpu"), 32)
        ```
    """
    start = time.perf_counter()
    images = torch.from_numpy(np.stack([decode_image(p, detector.image_size) for p in files]))
    images = images.permute(0, 3, 1, 2)
    decode_s = time.perf_counter() - start
    if detector.device.type == "cuda":
        images = images.pin_memory()
    seconds, _ = timed(
        lambda: [
            detector.predict_tensor(images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
    )
    return seconds, decode_s


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(fn) -> tuple[int, int]:
    """(resident memory before, highest resident memory while ``fn()`` runs), in bytes,
    sampled every 5 ms (Linux).

    Example:
        ```python
        before, peak = peak_memory(lambda: sum(range(10)))
        ```
    """
    gc.collect()
    before = _rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return before, max(peak[0], _rss())


def timed(fn, *args) -> tuple[float, list[float]]:
    """Seconds taken by ``fn(*args)`` (CUDA synchronised) and its result.

    Example:
        ```python
        seconds, result = timed(sum, [1, 2])
        ```
    """
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the medians, their ratio and the machine.

    Example:
        ```python
        main(["--images", "60", "--repeats", "1"])
        ```
    """
    args = parse_args(argv)
    load_before = os.getloadavg()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fakezoo-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        folder, run_dir = make_run(workdir, args, device)
        setup_s = time.perf_counter() - start
        files = sorted(p for p in folder.rglob("*.jpg"))
        models = [f.model for f in load_run(run_dir, device=device).folds]

        clear_cache()
        fakezoo_predict(folder / "real", run_dir, device, args.batch_size)  # load + warm up
        plain_loop(files[:4], models, device)

        plain_s, fast_s = [], []
        for _ in range(args.repeats):
            seconds, plain = timed(plain_loop, files, models, device)
            plain_s.append(seconds)
            seconds, fast = timed(fakezoo_predict, folder, run_dir, device, args.batch_size)
            fast_s.append(seconds)
        detector = load(run_dir, device=device)
        if args.ceiling_images:
            lines += ceiling_lines(workdir, args, run_dir, detector, device)
        if args.memory_images:
            lines += memory_lines(workdir, args, device)

    n = len(files)
    plain_ips = n / statistics.median(plain_s)
    fast_ips = n / statistics.median(fast_s)
    diff = float(np.max(np.abs(np.asarray(plain) - np.asarray(fast))))
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"command:   python {shlex.join(sys.argv)}")
    print(
        f"machine:   {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"os.cpu_count()={os.cpu_count()}, torch threads={torch.get_num_threads()}"
    )
    load_after = os.getloadavg()
    print(
        f"load avg:  {load_before[0]:.2f} before, {load_after[0]:.2f} after (1-minute; other "
        f"processes on the machine slow both methods down unevenly)"
    )
    print(f"software:  python {platform.python_version()}, torch {torch.__version__}")
    print(f"device:    {device}{gpu}")
    groups = [len(g.folds) for g in detector.ensemble.groups]
    print(
        f"ensemble:  {detector.n_folds} folds, {len(groups)} trunk pass(es) per batch "
        f"(folds per shared trunk: {groups}), trunk backend {detector.backend}"
    )
    print(
        f"workload:  {n} JPEGs of {args.source_size}px -> {args.model} "
        f"({'finetune' if args.finetune else 'head only'}) at {args.image_size}px, "
        f"{len(models)} fold models, batch size {args.batch_size}, {args.repeats} repeats "
        f"(setup {setup_s:.1f}s)"
    )
    print(
        f"plain loop (PIL + transform, 1 image, fp32, no_grad): median "
        f"{statistics.median(plain_s):.2f}s = {plain_ips:.1f} img/s  "
        f"(runs: {', '.join(f'{s:.2f}' for s in plain_s)})"
    )
    print(
        f"fakezoo.predict(folder, model=run_dir):              median "
        f"{statistics.median(fast_s):.2f}s = {fast_ips:.1f} img/s  "
        f"(runs: {', '.join(f'{s:.2f}' for s in fast_s)})"
    )
    print(f"speed-up:  {fast_ips / plain_ips:.2f}x")
    print(f"check:     max |prob_fake difference| between the two = {diff:.2e}")
    for line in lines:
        print(line)


def ceiling_lines(
    workdir: Path, args: argparse.Namespace, run_dir: Path, detector, device: torch.device
) -> list[str]:
    """``fakezoo.predict`` on a folder of ``--ceiling-images`` against the ceiling.

    Example:
        ```python
        ceiling_lines(Path("bench"), parse_args(["--ceiling-images", "100"]), run_dir, det,
                      torch.device("cpu"))
        ```
    """
    folder = make_demo_dataset(
        workdir / "demo-ceiling",
        n_per_class=args.ceiling_images // 2,
        seed=1,
        image_size=args.source_size,
        progress=False,
    )
    files = sorted(folder.rglob("*.jpg"))
    ceiling_s, fast_s, decode_s = [], [], 0.0
    for _ in range(args.repeats):
        seconds, decode_s = ceiling(files, detector, args.batch_size)
        ceiling_s.append(seconds)
        fast_s.append(timed(fakezoo_predict, folder, run_dir, device, args.batch_size)[0])
    n = len(files)
    ceiling_ips, fast_ips = n / statistics.median(ceiling_s), n / statistics.median(fast_s)
    return [
        f"ceiling:   {n} images pre-decoded ({decode_s:.2f}s to decode, not timed), one trunk "
        f"pass + tails per batch: median {statistics.median(ceiling_s):.2f}s = "
        f"{ceiling_ips:.1f} img/s  (runs: {', '.join(f'{s:.2f}' for s in ceiling_s)})",
        f"predict:   fakezoo.predict on the same {n} files: median "
        f"{statistics.median(fast_s):.2f}s = {fast_ips:.1f} img/s  "
        f"(runs: {', '.join(f'{s:.2f}' for s in fast_s)})",
        f"ceiling fraction: {fast_ips / ceiling_ips:.0%} of the ceiling",
    ]


def memory_lines(workdir: Path, args: argparse.Namespace, device: torch.device) -> list[str]:
    """Peak resident memory of ``fakezoo.predict`` on folders of ``--memory-images`` small
    JPEGs and a tenth as many, with a run of the same model at the JPEGs' size.

    Example:
        ```python
        memory_lines(Path("bench"), parse_args(["--memory-images", "1000"]), torch.device("cpu"))
        ```
    """
    small = argparse.Namespace(
        **{
            **vars(args),
            "image_size": max(args.memory_source_size, get_spec(args.model).min_image_size),
        }
    )
    _, run_dir = make_run(workdir / "memory", small, device)
    out = []
    for n in (args.memory_images // 10, args.memory_images):
        folder = make_folder(workdir / f"small-{n}", n, args.memory_source_size)
        fakezoo_predict(folder / "real", run_dir, device, args.batch_size)  # load, warm up
        start = time.perf_counter()
        before, peak = peak_memory(
            lambda folder=folder: fakezoo_predict(folder, run_dir, device, args.batch_size)
        )
        seconds = time.perf_counter() - start
        out.append(
            f"peak memory: {n} JPEGs of {args.memory_source_size}px at "
            f"{small.image_size}px: resident {before / 2**20:.0f} MiB before, peak "
            f"{peak / 2**20:.0f} MiB (+{(peak - before) / 2**20:.0f} MiB), "
            f"{n / seconds:.0f} img/s"
        )
    return out


if __name__ == "__main__":
    main()
