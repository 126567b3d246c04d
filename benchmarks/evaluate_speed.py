"""What ``fakezoo.evaluate`` costs against the plain way: ``predict`` glued to scikit-learn.

In one process, on the same files and the same run:

* **plain**: ``fakezoo.predict(folder, model=run)`` (one streamed prediction pass that
  returns every fold's probability), then scikit-learn's accuracy, weighted P/R/F1 and ROC-AUC
  of the ensemble: what a user writes by hand, with no intervals, no per-fold metrics, no
  calibration and no report;
* **fakezoo evaluate, clean**: ``fakezoo.evaluate(run, folder, bootstrap=B)``: decoding, one
  prediction pass, every metric for the ensemble and each fold at two thresholds, the bootstrap
  intervals and calibration;
* **fakezoo evaluate, P perturbations**: the same with ``perturb=`` (P + 1 passes over images
  decoded once).

Prints the medians of ``--repeats`` runs and the ratios ``evaluate / plain`` (the overhead of
everything evaluate adds to one prediction pass) and ``(perturbed - clean) / P / plain`` (the
cost of one more condition, in prediction passes).

Usage:
    ```bash
    python benchmarks/evaluate_speed.py                      # 96 images, mobilenet_v2, 64 px
    python benchmarks/evaluate_speed.py --images 2000 --image-size 224 --device cuda
    ```
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

from fakezoo.data import load_dataset
from fakezoo.evaluation import evaluate
from fakezoo.inference.api import clear_cache, predict
from fakezoo.synth.demo import make_demo_dataset
from fakezoo.train.cv import CrossValidator


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="evaluation images (half fake)")
    parser.add_argument("--image-size", type=int, default=64, help="model input size")
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--perturb", default="jpeg:50 blur:1")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="fakezoo-evaluate-speed-"))
    train = make_demo_dataset(work / "train", 12, seed=0, image_size=96)
    data = make_demo_dataset(work / "test", args.images // 2, seed=1, image_size=96)
    run = work / "run"
    CrossValidator(
        epochs=1,
        batch_size=8,
        pretrained=False,
        image_size=args.image_size,
        device=args.device,
        progress=False,
    ).run(args.model, load_dataset(train), finetune=False, lr=1e-3, out_dir=run)
    n_perturb = len(args.perturb.split())  # one value per group in the default

    def plain() -> None:
        rows = predict(str(data), model=str(run), device=args.device, progress=False)
        y = np.array([0 if "/real/" in r.path else 1 for r in rows])
        p = np.array([r.prob_fake for r in rows])
        pred = (p >= 0.5).astype(int)
        accuracy_score(y, pred)
        precision_recall_fscore_support(y, pred, average="weighted", zero_division=0)
        roc_auc_score(y, p)

    def clean() -> None:
        evaluate(run, data, bootstrap=args.bootstrap, device=args.device)

    def perturbed() -> None:
        evaluate(run, data, perturb=args.perturb, bootstrap=args.bootstrap, device=args.device)

    methods = {"plain": plain, "clean": clean, "perturbed": perturbed}
    for fn in methods.values():  # warm up: the one-liner's cache, imports, allocator
        fn()
    times: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            clear_cache()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.images} images, {args.model} at {args.image_size} px, 3 folds, device "
        f"{args.device}, torch threads {torch.get_num_threads()}, bootstrap {args.bootstrap}, "
        f"medians of {args.repeats}"
    )
    print(f"plain (predict + scikit-learn):         {med['plain']:.2f} s")
    print(
        f"fakezoo evaluate, clean:                {med['clean']:.2f} s  "
        f"ratio {med['clean'] / med['plain']:.2f}x"
    )
    per = (med["perturbed"] - med["clean"]) / n_perturb / med["plain"]
    print(
        f"fakezoo evaluate, {n_perturb} perturbations ({args.perturb}): "
        f"{med['perturbed']:.2f} s  one more condition = {per:.2f} prediction passes"
    )
    return {
        "median_seconds": med,
        "ratio_clean": med["clean"] / med["plain"],
        "passes_per_condition": per,
    }


if __name__ == "__main__":
    main()
