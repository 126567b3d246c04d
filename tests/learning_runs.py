"""Generated faces and pretrained ``efficientnet_lite0`` runs for ``tests/test_learning.py``.

The tests and the measurement of their margins run this same code:

    python tests/learning_runs.py --seeds 0 1 2 3 4     # every asserted number, per seed

The data are fakezoo's demo faces (``make_demo_dataset``, generated at 96 pixels, offline and
seeded): the fakes' blended faces are upscaled from 1/2-1/4 size, which ImageNet features see.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

N_PER_CLASS = 40  # training images per class (3-fold CV)
HELD_OUT_PER_CLASS = 30  # other generated images per class, for predict and evaluate
IMAGE_SIZE = 96  # generated and read at 96 pixels (at 64 the upscaled faces are hard to see)
TRAIN = {
    False: {"epochs": 10, "lr": 5e-2},  # head only: trains on the cached pooled features
    True: {"epochs": 3, "lr": 1e-3},  # fine-tune: blocks 5-6, conv_head, bn2, classifier
}


SELF_BLEND = {"epochs": 10, "lr": 5e-2, "blends_per_image": 4}  # head only, cached fakes


def make_data(root: Path, seed: int) -> tuple[Path, Path]:
    """A training set and a held-out set (other images: another generator seed)."""
    from fakezoo.synth.demo import make_demo_dataset

    train = make_demo_dataset(root / f"train-{seed}", N_PER_CLASS, seed=seed, image_size=96)
    held_out = make_demo_dataset(
        root / f"held-out-{seed}", HELD_OUT_PER_CLASS, seed=seed + 1000, image_size=96
    )
    return train, held_out


def shuffled(dataset, seed: int):
    """The same images with their labels permuted (seeded): nothing left to learn."""
    rng = np.random.default_rng(seed)
    return dataclasses.replace(dataset, labels=rng.permutation(dataset.labels))


def train(data, finetune: bool, seed: int, out: Path | None, mode: str = "fast"):
    """Cross-validate pretrained efficientnet_lite0 (3 folds) at the fixed settings above."""
    import fakezoo

    cv = fakezoo.CrossValidator(
        epochs=TRAIN[finetune]["epochs"],
        batch_size=16,
        seed=seed,
        image_size=IMAGE_SIZE,
        device="cpu",
        progress=False,
        mode=mode,
        save_weights=out is not None,
        num_workers=1,
    )
    return cv.run(
        "efficientnet_lite0", data, finetune=finetune, lr=TRAIN[finetune]["lr"], out_dir=out
    )


def train_self_blend(data, seed: int, out: Path | None):
    """Cross-validate pretrained efficientnet_lite0, head only, on the real faces of ``data``
    alone with ``fakes="self-blend"`` (cached fakes) at the fixed settings above."""
    import fakezoo

    cv = fakezoo.CrossValidator(
        epochs=SELF_BLEND["epochs"],
        batch_size=16,
        seed=seed,
        image_size=IMAGE_SIZE,
        device="cpu",
        progress=False,
        save_weights=out is not None,
        num_workers=1,
        fakes="self-blend",
        blends_per_image=SELF_BLEND["blends_per_image"],
    )
    reals = data.subset(np.flatnonzero(data.labels == 0))
    return cv.run("efficientnet_lite0", reals, finetune=False, lr=SELF_BLEND["lr"], out_dir=out)


def blended_held_out(held_out: Path, seed: int, out: Path) -> Path:
    """``out/real``: the held-out real faces; ``out/fake``: one self-blended fake of each,
    drawn with another seed than training's."""
    from PIL import Image

    import fakezoo
    from fakezoo.data import decode_dataset
    from fakezoo.synth.recipe import self_blended

    reals = fakezoo.load_dataset(held_out)
    reals = reals.subset(np.flatnonzero(reals.labels == 0))
    made = self_blended(decode_dataset(reals, IMAGE_SIZE, num_workers=1), blends=1, seed=seed + 77)
    for label in ("real", "fake"):
        (out / label).mkdir(parents=True, exist_ok=True)
    for row, image in enumerate(made.images):
        label = "fake" if made.labels[row] else "real"
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(out / label / f"{row:03d}.png")
    return out


def predict_scores(run: Path, held_out: Path) -> dict[str, float]:
    """Accuracy and ROC-AUC of ``fakezoo.predict`` (the fold ensemble) on the held-out set."""
    from sklearn.metrics import roc_auc_score

    import fakezoo

    data = fakezoo.load_dataset(held_out)
    preds = fakezoo.predict([str(p) for p in data.paths], model=run, device="cpu")
    prob = np.array([p.prob_fake for p in preds])
    label = np.array([p.label == "fake" for p in preds])
    return {
        "accuracy": float((label == data.labels.astype(bool)).mean()),
        "roc_auc": float(roc_auc_score(data.labels, prob)),
    }


def evaluate_scores(run: Path, held_out: Path, out: Path) -> dict[str, float]:
    """ROC-AUC and accuracy (at the CV's EER threshold) of ``fakezoo evaluate RUN DATA``,
    the command run in-process, read back from the ``evaluate.json`` it writes."""
    from fakezoo.cli import main
    from fakezoo.evaluation.results import EvalResult

    argv = ["evaluate", str(run), str(held_out), "--out", str(out), "--bootstrap", "0"]
    assert main([*argv, "--device", "cpu"]) == 0
    payload = json.loads((out / "evaluate.json").read_text(encoding="utf-8"))
    result = EvalResult.from_dict(payload["runs"][0])
    return {"accuracy": result.metric("accuracy"), "roc_auc": result.metric("roc_auc")}


def measure(seed: int, root: Path) -> dict[str, float]:
    """Every number the learning tests assert on, for one seed."""
    import fakezoo

    train_dir, held_out = make_data(root, seed)
    data = fakezoo.load_dataset(train_dir)
    numbers = {}
    for finetune in (False, True):
        name = "finetune" if finetune else "head"
        for mode in ("fast", "study"):
            run = root / f"{name}-{mode}-{seed}"
            result = train(data, finetune, seed, run if mode == "fast" else None, mode)
            numbers[f"{name} {mode} accuracy"] = result.mean["accuracy"]
            numbers[f"{name} {mode} roc_auc"] = result.mean["roc_auc"]
        result = train(shuffled(data, seed), finetune, seed, root / f"{name}-shuffled-{seed}")
        numbers[f"{name} shuffled accuracy"] = result.mean["accuracy"]
        numbers[f"{name} shuffled roc_auc"] = result.mean["roc_auc"]
        run = root / f"{name}-fast-{seed}"
        for key, value in predict_scores(run, held_out).items():
            numbers[f"{name} predict {key}"] = value
        for key, value in evaluate_scores(run, held_out, root / f"eval-{name}-{seed}").items():
            numbers[f"{name} evaluate {key}"] = value
        shuffled_run = root / f"{name}-shuffled-{seed}"
        for key, value in predict_scores(shuffled_run, held_out).items():
            numbers[f"{name} shuffled predict {key}"] = value
    numbers.update(measure_self_blend(seed, root))
    return numbers


def measure_self_blend(seed: int, root: Path) -> dict[str, float]:
    """The numbers the self-blend learning tests assert on, for one seed."""
    import fakezoo

    train_dir, held_out = make_data(root, seed)
    run = root / f"self-blend-{seed}"
    result = train_self_blend(fakezoo.load_dataset(train_dir), seed, run)
    numbers = {f"self-blend {k}": result.mean[k] for k in ("accuracy", "roc_auc")}
    blended = blended_held_out(held_out, seed, root / f"blended-held-out-{seed}")
    for key, value in predict_scores(run, blended).items():
        numbers[f"self-blend predict {key}"] = value
    return numbers


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--self-blend", action="store_true", help="the self-blend runs only")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rows[seed] = (measure_self_blend if args.self_blend else measure)(seed, Path(tmp))
            print(seed, json.dumps({k: round(v, 3) for k, v in rows[seed].items()}), flush=True)
    for key in rows[args.seeds[0]]:
        values = [rows[s][key] for s in args.seeds]
        print(f"{key:32} min {min(values):.3f}  max {max(values):.3f}")
