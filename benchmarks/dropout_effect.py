"""Does torchvision's dropout hurt fakezoo's fast mode? Accuracy with and without it.

For each model with a torchvision dropout (VGG-16, MobileNet-V2, Inception-v3) and each
policy, cross-validates in ``mode="fast"`` on the demo data (the ``fakezoo benchmark`` demo's
settings: random initial weights, 64 px, 2 epochs, batch size 16) at a few learning rates and
seeds, once with ``drop_rate=0`` and once with the model's torchvision value, and prints the
mean accuracy and ROC-AUC of each, and their difference with its spread across runs.

Usage:
    ```bash
    python benchmarks/dropout_effect.py --seeds 3 --json dropout.json
    ```
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import fakezoo
from fakezoo import CrossValidator
from fakezoo.study import DEMO

ROWS = [
    ("vgg16", False),
    ("vgg16", True),
    ("mobilenet_v2", False),
    ("mobilenet_v2", True),
    ("inception_v3", False),
]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    p.add_argument("--models", nargs="+")
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = [r for r in ROWS if not args.models or r[0] in args.models]
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = fakezoo.load_dataset(
            fakezoo.make_demo_dataset(
                Path(tmp) / "demo",
                DEMO["n_per_class"],
                seed=0,
                image_size=DEMO["demo_image_size"],
                progress=False,
            )
        )
        for name, finetune in rows:
            size = max(DEMO["image_size"], fakezoo.get_spec(name).min_image_size)
            key = f"{name}-{'finetune' if finetune else 'head'}"
            scores: dict[str, list[tuple[float, float]]] = {"off": [], "torchvision": []}
            for seed in range(args.seeds):
                for label, rate in (("off", 0.0), ("torchvision", None)):
                    cv = CrossValidator(
                        epochs=DEMO["epochs"],
                        batch_size=DEMO["batch_size"],
                        seed=seed,
                        device="cpu",
                        pretrained=False,
                        image_size=size,
                        drop_rate=rate,
                        save_weights=False,
                        progress=False,
                    )
                    for lr in args.lrs:
                        result = cv.run(name, data, finetune=finetune, lr=lr)
                        scores[label].append(
                            (result.mean["accuracy"], result.mean.get("roc_auc") or float("nan"))
                        )
            diffs = [b[0] - a[0] for a, b in zip(scores["off"], scores["torchvision"], strict=True)]
            out[key] = {
                "rate": fakezoo.get_spec(name).drop_rate,
                "accuracy_off": statistics.mean(s[0] for s in scores["off"]),
                "accuracy_torchvision": statistics.mean(s[0] for s in scores["torchvision"]),
                "auc_off": statistics.mean(s[1] for s in scores["off"]),
                "auc_torchvision": statistics.mean(s[1] for s in scores["torchvision"]),
                "accuracy_diff_mean": statistics.mean(diffs),
                "accuracy_diff_std": statistics.pstdev(diffs),
                "runs": len(diffs),
            }
            r = out[key]
            print(
                f"{key:<22} p={r['rate']:<4} accuracy off {r['accuracy_off']:.4f}  "
                f"torchvision {r['accuracy_torchvision']:.4f}  diff "
                f"{r['accuracy_diff_mean']:+.4f} ± {r['accuracy_diff_std']:.4f} "
                f"({r['runs']} runs); AUC off {r['auc_off']:.4f} torchvision "
                f"{r['auc_torchvision']:.4f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
