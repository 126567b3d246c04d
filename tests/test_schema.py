"""The run schema: records round-trip, validation refuses what it must, the fingerprint diffs."""

import copy
import json

import pytest

from fakezoo.faces.policy import AlignedCropPolicy, named_policy
from fakezoo.models.preprocessing import Preprocessing
from fakezoo.runs.schema import (
    LABELS,
    Fingerprint,
    FoldConfig,
    RunConfig,
    RunFormatError,
    RunMismatchError,
    check_same,
    files_digest,
)

PRE = Preprocessing(image_size=32)


def fingerprint(**changes) -> Fingerprint:
    base = Fingerprint(
        data_sha256="a" * 64,
        n_images=24,
        folds=(files_digest(["x"]), files_digest(["y"])),
        model="mobilenet_v2",
        trainable=("classifier",),
        weights="random",
        weights_sha256=None,
        image_size=32,
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
        epochs=1,
        batch_size=8,
        optimizer="adam",
        weight_decay=0.0,
        seed=0,
        lr=1e-3,
    )
    return base.replace(**changes)


def run_config(**changes) -> RunConfig:
    cfg = RunConfig(
        model="mobilenet_v2",
        architecture="mobilenetv2_100",
        finetune=False,
        trainable=["classifier"],
        preprocessing=PRE,
        folds=["fold_1", "fold_2"],
        lr=1e-3,
        complete=True,
        settings={"epochs": 1},
        fingerprint=fingerprint(),
        split_seed=0,
    )
    for k, v in changes.items():
        setattr(cfg, k, v)
    return cfg


def fold_config(k: int = 1) -> FoldConfig:
    return FoldConfig(
        fold=k,
        model="mobilenet_v2",
        architecture="mobilenetv2_100",
        finetune=False,
        trainable=["classifier"],
        preprocessing=PRE,
        lr=1e-3,
        n_train=12,
        n_val=12,
        val_files_sha256=files_digest(["x"]),
        metrics={"accuracy": 0.5},
        settings={"epochs": 1, "seed": 0},
        fingerprint=fingerprint(),
    )


def test_fingerprint_round_trips_through_json_types():
    fp = fingerprint(lr_range=(1e-4, 1e-2), n_trials=3, protocol="study")
    data = fp.to_dict()
    assert isinstance(data["folds"], list) and isinstance(data["lr_range"], list)
    assert Fingerprint.from_dict(data) == fp and Fingerprint.from_dict(data).sha256 == fp.sha256


def test_fingerprint_diff_names_each_field_old_and_new():
    old, new = fingerprint(), fingerprint(epochs=3, n_images=18, lr=1e-2)
    assert old.diff(new) == [("n_images", 24, 18), ("epochs", 1, 3), ("lr", 1e-3, 1e-2)]
    with pytest.raises(RunMismatchError) as info:
        check_same(old, new, "'runs/x'", "Use another --out, or --overwrite.")
    text = str(info.value)
    assert "epochs: 1 → 3" in text and "n_images: 24 → 18" in text and "--overwrite" in text
    assert [d[0] for d in info.value.differences] == ["n_images", "epochs", "lr"]
    check_same(old, fingerprint(), "'runs/x'", "")  # equal: silent


def test_fold_digests_are_shortened_in_messages():
    old = fingerprint()
    new = fingerprint(folds=(files_digest(["x", "y"]), files_digest(["z"]), files_digest([])))
    with pytest.raises(RunMismatchError, match=r"folds: 2 folds \[.{8}, .{8}\] → 3 folds"):
        check_same(old, new, "run", "")


def test_fingerprints_with_unknown_or_missing_fields_are_refused():
    data = fingerprint().to_dict()
    assert Fingerprint.from_dict(data) == fingerprint()
    with pytest.raises(RunFormatError, match="unknown fingerprint fields"):
        Fingerprint.from_dict({**data, "warp_drive": 1})
    del data["cache_dtype"]  # no default stands in for a field an older checkout did not write
    with pytest.raises(RunFormatError, match=r"incomplete fingerprint, no \['cache_dtype'\]"):
        Fingerprint.from_dict(data)


def test_run_config_round_trips_and_lists_the_trained_folds():
    cfg = run_config(folds=["fold_1", "fold_2", "fold_3", "fold_4", "fold_5"])
    data = cfg.to_dict()
    assert data["n_splits"] == 5 and data["labels"] == list(LABELS)
    assert RunConfig.from_dict(data) == cfg


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.update(labels=["fake", "real"]), "labels must be exactly"),
        (lambda d: d.update(labels=["real", "fake", "other"]), "labels must be exactly"),
        (lambda d: d.update(folds=["fold_1", "fold_1"]), "lists a fold twice"),
        (lambda d: d.update(folds=["../fold_1"]), "not of the form"),
        (lambda d: d.update(n_splits=3), "n_splits=3 but 'folds' lists 2"),
        (lambda d: d["preprocessing"].pop("std"), "preprocessing record lacks std"),
        (lambda d: d["preprocessing"].pop("interpolation"), "record lacks interpolation"),
        (lambda d: d["preprocessing"].update(std=[0.5, 0.0, 0.5]), "must be positive"),
        (lambda d: d.update(library_name="transformers"), "Not a fakezoo run"),
        (lambda d: d.update(schema_version=99), "newer than this fakezoo"),
        (lambda d: d.update(schema_version=2), "older fakezoo checkout.*Train the run again"),
        (lambda d: d.pop("schema_version"), "schema_version 1 was written by an older"),
        (lambda d: d["fingerprint"].update(extra=1), "unknown fingerprint fields"),
    ],
)
def test_run_config_validation_refuses(edit, match):
    data = copy.deepcopy(run_config().to_dict())
    edit(data)
    with pytest.raises(RunFormatError, match=match):
        RunConfig.from_dict(data)


def test_fold_config_round_trips_and_checks_against_its_run():
    fold = fold_config(2)
    data = fold.to_dict()
    assert data["pretrained_cfg"]["label_names"] == ["real", "fake"]
    back = FoldConfig.from_dict(data)
    assert back == fold
    run = run_config()
    run.check_fold(back, "fold_2", "fold_2/config.json")
    with pytest.raises(RunFormatError, match="sits in 'fold_1'"):
        run.check_fold(back, "fold_1", "fold_1/config.json")
    other = FoldConfig.from_dict(data)
    other.fingerprint = fingerprint(epochs=5)
    with pytest.raises(RunFormatError, match="differs from the run's in epochs"):
        run.check_fold(other, "fold_2", "x")
    other.fingerprint = fingerprint(lr=0.5)  # trained at another lr: not this run's fold
    with pytest.raises(RunFormatError, match="differs from the run's in lr"):
        run.check_fold(other, "fold_2", "x")
    other.fingerprint, other.lr = fingerprint(), 0.5  # its fingerprint, another lr
    with pytest.raises(RunFormatError, match="differs from the run's in lr"):
        run.check_fold(other, "fold_2", "x")
    nested = run_config(fingerprint=fingerprint(lr=None))  # a nested search: lr per fold
    other.fingerprint = fingerprint(lr=None)
    nested.check_fold(other, "fold_2", "x")


def test_fold_config_refuses_swapped_labels():
    data = fold_config().to_dict()
    data["fakezoo"]["labels"] = ["fake", "real"]
    with pytest.raises(RunFormatError, match="swapped"):
        FoldConfig.from_dict(data)


def test_fold_config_of_an_older_checkout_is_refused_in_one_line():
    data = fold_config().to_dict()
    data["fakezoo"]["schema_version"] = 2  # mode/protocol were still called "seed"
    with pytest.raises(RunFormatError, match="older fakezoo checkout") as err:
        FoldConfig.from_dict(data, "fold_1/config.json")
    assert "\n" not in str(err.value) and str(err.value).startswith("fold_1/config.json")


@pytest.mark.parametrize(
    "record",
    [
        Preprocessing(image_size=32),
        Preprocessing(
            299, normalization="pretrained", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
        ),
        Preprocessing(64, face_crop=AlignedCropPolicy(size=64, frames=2)),
        Preprocessing(64, face_crop=named_policy("sbi")),
    ],
)
def test_preprocessing_round_trips_through_json(record):
    data = json.loads(json.dumps(record.to_dict()))
    assert Preprocessing.from_dict(data) == record
    assert data["normalization"] == record.normalization  # what it is, by name


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.pop("normalization"), "lacks normalization"),
        (lambda d: d.update(extra=1), "has unknown fields extra"),
        (lambda d: d.update(normalization="imagenet"), "normalization must be one of study"),
        (lambda d: d.update(image_size=0), r"image_size must be an integer in \[1, 4096\]"),
        (lambda d: d.update(image_size=True), "image_size must be an integer"),
        (lambda d: d.update(mean=[0.5, 0.5]), "mean must be three finite numbers"),
        (lambda d: d.update(std=[0.5, float("nan"), 0.5]), "std must be three finite numbers"),
        (lambda d: d.update(std=[0.5, -1, 0.5]), "std must be positive"),
        (lambda d: d.update(interpolation="bicubic"), "interpolation must be 'bilinear'"),
        (lambda d: d.update(resize="shorter"), "resize must be 'square'"),
        (lambda d: d.update(face_crop={"kind": "box", "version": 1}), "crop policy version 1"),
        (lambda d: d.update(face_crop="largest"), "face_crop"),
    ],
)
def test_invalid_preprocessing_records_are_refused_in_one_line(edit, match):
    data = Preprocessing(32, face_crop=named_policy("fakezoo")).to_dict()
    edit(data)
    with pytest.raises(RunFormatError, match=match) as err:
        Preprocessing.from_dict(data, "runs/x/config.json")
    message = str(err.value)
    assert message.startswith("runs/x/config.json: ") and "\n" not in message
