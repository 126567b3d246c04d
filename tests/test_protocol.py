"""`fakezoo protocol` end to end on the benchmark replicas (real videos, the real MTCNN, random
weights, tiny sizes), and its numbers against scikit-learn on the same probabilities."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

pytest.importorskip("av")
pytest.importorskip("facenet_pytorch")
pytest.importorskip("skimage.data")

import benchmark_data as bd

from fakezoo.cli import main
from fakezoo.errors import ProtocolError
from fakezoo.evaluation.stats import eer_threshold
from fakezoo.protocol import ProtocolResult, run_protocol
from fakezoo.protocol.scores import score, thresholds

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARGS = bd.PROTOCOL_ARGS


def _eer(y, p):
    """Where scikit-learn's ROC curve crosses FNR = FPR (linear between its two points)."""
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    fnr = 1 - tpr
    x = fpr - fnr  # non-decreasing, -1 to 1
    return (np.interp(0, x, fpr) + np.interp(0, x, fnr)) / 2


def _video_means(groups, y, p):
    ids = list(dict.fromkeys(groups))
    gp = np.array([np.mean([pp for g, pp in zip(groups, p, strict=True) if g == i]) for i in ids])
    gy = np.array([y[groups.index(i)] for i in ids])
    return gy, gp


def _check_level(block, y, p, threshold):
    assert block["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert block["average_precision"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert block["eer"] == pytest.approx(_eer(y, p), abs=1e-9)
    assert block["accuracy"] == pytest.approx(np.mean((p >= threshold) == y), abs=1e-12)
    assert block["threshold"] == threshold


def test_frame_and_video_metrics_equal_scikit_learn():
    rng = np.random.default_rng(3)
    groups = [f"v{i // 4}" for i in range(80)]
    methods = {f"v{i}": None if i < 8 else ("A" if i % 2 else "B") for i in range(20)}
    y = np.array([0 if methods[g] is None else 1 for g in groups])
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    cut = {"frame": 0.47, "video": 0.52}
    out = score(y, p, groups, cut, methods)
    _check_level(out["frame"], y, p, 0.47)
    gy, gp = _video_means(groups, y, p)
    _check_level(out["video"], gy, gp, 0.52)
    assert out["video"]["n"] == 20 and out["video"]["aggregation"] == "mean"
    for name in ("A", "B"):
        keep = np.array([methods[g] in (None, name) for g in groups])
        _check_level(out["by_method"][name]["frame"], y[keep], p[keep], 0.47)
    # the thresholds are the EER points of what they are given (the validation predictions)
    t = thresholds(y, p, groups)
    assert t == {"frame": eer_threshold(y, p), "video": eer_threshold(gy, gp)}


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    """The CLI run once: train ff++:c23 (and test it at c23 and c40), test Celeb-DF v2, DFDC,
    DFDCP; crops shared with the other tests of this module."""
    root = bd.data_root(tmp_path_factory)
    out = tmp_path_factory.mktemp("protocol")
    crops = tmp_path_factory.getbasetemp() / "protocol-crops"
    argv = ["protocol", "--data-root", str(root), "--out", str(out), "--crops", str(crops), *ARGS]
    assert main(argv) == 0
    return out, crops, root, argv


def test_protocol_writes_the_table_json_and_csv(protocol, capsys):
    out, _, _, _ = protocol
    result = ProtocolResult.from_dict(json.loads((out / "protocol.json").read_text()))
    header = result.table().splitlines()[0]
    assert header == (
        "| Detector | Backbone | FF++_c23 | FF++_c40 | FF-DF | FF-F2F | FF-FS | FF-NT | Avg. | "
        "Top3 | CDFv2 | DFDC | DFDCP | Avg. | Top3 |"
    )
    row = "| mobilenet_v2 (without fine-tuning) | mobilenetv2_100"  # the study's wording
    assert (out / "table.md").read_text().count(row) == 2
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    # 5 test sets x 2 levels, plus 4 methods x 2 levels for each FF++ set and 2 for DFDCP
    assert len(rows) == 5 * 2 + 2 * 4 * 2 + 2 * 2
    assert {r["dataset"] for r in rows} == {"ff++:c23", "ff++:c40", "celebdf-v2", "dfdc", "dfdcp"}
    [model] = result.models
    assert [t["lr"] for t in model["lrs"]] == [0.001, 0.01]
    assert model["lr"] in (0.001, 0.01)
    assert result.settings["selection"].startswith("lr: best ROC-AUC on the official validation")
    assert {d["label"] for d in result.datasets} == {r["dataset"] for r in rows}
    assert all(not d["videos_without_crops"] for d in result.datasets)


def test_every_number_is_scikit_learn_on_the_saved_probabilities(protocol):
    out, _, _, _ = protocol
    result = json.loads((out / "protocol.json").read_text())
    [model] = result["models"]
    for r in result["results"]:
        name = r["dataset"].replace(":", "-")
        preds = json.loads((out / "predictions" / f"{name}.json").read_text())
        y = np.asarray(preds["y_true"])
        p = np.asarray(preds["prob"]["mobilenet_v2"])
        _check_level(r["frame"], y, p, model["thresholds"]["frame"])
        gy, gp = _video_means(preds["groups"], y, p)
        _check_level(r["video"], gy, gp, model["thresholds"]["video"])
        assert r["video"]["n"] == r["n_videos"] == len(set(preds["groups"]))
    ff = next(r for r in result["results"] if r["dataset"] == "ff++:c23")
    assert sorted(ff["by_method"]) == list(bd.FF_METHODS)
    assert ff["frame"]["n_real"] == 2 * 2 and ff["frame"]["n_fake"] == 8 * 2  # 2 frames each


def test_the_thresholds_come_from_the_validation_split(protocol):
    out, _, _, _ = protocol
    result = json.loads((out / "protocol.json").read_text())
    [model] = result["models"]
    run = json.loads(
        (out / "runs" / "mobilenet_v2" / f"lr-{model['lr']:g}" / "results.json").read_text()
    )
    [fold] = run["folds"]
    assert fold["n_val"] == (2 + 8) * 2  # the official validation pair, 2 frames per video
    assert all(f.startswith("validation/") for f in fold["val_files"])
    y, p = np.asarray(fold["y_true"]), np.asarray(fold["y_prob"])
    assert model["thresholds"]["frame"] == eer_threshold(y, p)
    ff = next(d for d in result["datasets"] if d["label"] == "ff++:c23")
    with open(f"{ff['crops']}/manifest.csv") as handle:
        group_of = {r["path"]: r["group"] for r in csv.DictReader(handle)}
    groups = [group_of[f] for f in fold["val_files"]]
    assert len(set(groups)) == 10
    gy, gp = _video_means(groups, y, p)
    assert model["thresholds"]["video"] == pytest.approx(eer_threshold(gy, gp), abs=1e-12)
    for r in result["results"]:
        assert r["frame"]["threshold"] == model["thresholds"]["frame"]
        assert r["video"]["threshold"] == model["thresholds"]["video"]
    config = json.loads((out / "runs" / "mobilenet_v2" / "lr-0.001" / "config.json").read_text())
    face_crop = config["preprocessing"]["face_crop"]
    assert face_crop["kind"] == "aligned" and face_crop["frames"] == 2 and face_crop["size"] == 64


def test_prediction_crops_like_the_run_was_trained(protocol, tmp_path):
    from face_images import write_video

    import fakezoo
    from fakezoo.faces import AlignedCropPolicy, sample_frames
    from fakezoo.inference.faces import crop_policy, media_faces

    out, _, _, _ = protocol
    video = tmp_path / "clip.mp4"
    write_video(video, n_frames=7)  # a larger face than the replicas', for predict's min_size
    detector = fakezoo.load(out / "runs" / "mobilenet_v2" / "lr-0.001", device="cpu")
    policy = crop_policy(detector.preprocessing)
    assert policy == AlignedCropPolicy(size=64, frames=2)
    pred = fakezoo.predict(video, model=detector, faces=True)
    assert [f.frame for f in pred.frames] == [0, 6]  # the policy's 2 frames
    _, scanned = media_faces(detector, video)
    [media] = list(scanned)
    first = dict(sample_frames(video, 2, "floor"))[0]
    crop = media.crops[0]
    assert crop.pixels.shape == (64, 64, 3)
    assert np.array_equal(crop.pixels, policy.cut(first, crop.face))  # aligned, as trained


def test_a_rerun_reuses_the_runs_and_gives_the_same_numbers(protocol, caplog):
    out, _, _, argv = protocol
    before = (out / "results.csv").read_text()
    stored = {p: p.stat().st_mtime_ns for p in (out / "predictions").glob("*.json")}
    with caplog.at_level("INFO", logger="fakezoo"):
        assert main(argv) == 0
    assert (out / "results.csv").read_text() == before
    assert sum("fold 1/1: already done" in r.getMessage() for r in caplog.records) == 2
    assert {p: p.stat().st_mtime_ns for p in stored} == stored  # predictions reused


def test_a_missing_test_list_leaves_that_set_out_in_one_line(protocol, tmp_path, caplog):
    _, crops, root, _ = protocol
    cdf = tmp_path / "Celeb-DF-v2"
    shutil.copytree(root / "Celeb-DF-v2", cdf)
    (cdf / "List_of_testing_videos.txt").unlink()
    out = tmp_path / "out"
    argv = [
        "protocol",
        "--data-root",
        str(root),
        "--out",
        str(out),
        "--crops",
        str(crops),
        *ARGS,
        "--test",
        f"celebdf-v2={cdf}",
        "dfdcp",
        "--no-c40",
    ]
    with caplog.at_level("WARNING", logger="fakezoo"):
        assert main(argv) == 0
    lines = [r.getMessage() for r in caplog.records if "left out of the table" in r.getMessage()]
    assert lines == [
        f"celebdf-v2: left out of the table: celebdf-v2 has no test split in {cdf} "
        f"({cdf / 'List_of_testing_videos.txt'}: missing: no test split, every video "
        "is in the training split)"
    ]
    result = json.loads((out / "protocol.json").read_text())
    assert {r["dataset"] for r in result["results"]} == {"ff++:c23", "dfdcp"}


def test_a_training_set_over_the_memory_budget_is_refused_before_cropping(
    tmp_path_factory, tmp_path
):
    root = bd.data_root(tmp_path_factory)
    with pytest.raises(ProtocolError) as info:
        run_protocol(
            "ff++:c23",
            [],
            models=["mobilenet_v2"],
            out=tmp_path,
            data_root=root,
            memory_budget_gb=1e-4,
        )
    message = str(info.value)
    assert message.startswith(
        "ff++:c23 train+validation: 30 videos x 32 frames decode to 0.1 GB at 224 px, over "
        "the memory budget of 0.1 MB (--memory-budget); even one frame per video needs 4.5 MB"
    )
    assert "no out-of-core training path yet" in message and "\n" not in message
    assert not (tmp_path / "crops").exists()


def test_deepfakebench_crops_train_and_test_as_they_are(tmp_path_factory, tmp_path):
    import fakezoo

    dfb = bd.replica(tmp_path_factory, "deepfakebench") / "preprocessing" / "dataset_json"
    cv = fakezoo.CrossValidator(
        n_splits=2,
        epochs=1,
        batch_size=8,
        pretrained=False,
        image_size=32,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    result = run_protocol(
        f"deepfakebench={dfb / 'FaceForensics++.json'}",
        [f"deepfakebench={dfb / 'Celeb-DF-v2.json'}"],
        models=["mobilenet_v2"],
        out=tmp_path,
        cv=cv,
        lrs=[1e-3],
        finetune=False,
    )
    assert [r["dataset"] for r in result.results] == [
        "deepfakebench:FaceForensics++:c23",
        "deepfakebench:Celeb-DF-v2",
    ]
    assert result.table().splitlines()[0] == (
        "| Detector | Backbone | FF++_c23 | Avg. | Top3 | CDFv2 | Avg. | Top3 |"
    )
    cdf = result.results[1]
    assert cdf["video"]["n"] == 2 and cdf["frame"]["n"] == 6  # its two test videos, 3 frames
    config = json.loads((tmp_path / "runs/mobilenet_v2/lr-0.001/config.json").read_text())
    assert config["preprocessing"]["face_crop"]["kind"] == "aligned"


def test_the_docs_show_this_table(protocol):
    from pathlib import Path

    out, _, _, _ = protocol
    result = ProtocolResult.from_dict(json.loads((out / "protocol.json").read_text()))
    page = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    assert result.table("frame") in page and result.table("video") in page
    assert " ".join(bd.PROTOCOL_ARGS) in page


def test_push_eval_carries_the_protocol_rows_into_the_card(protocol, tmp_path, capsys):
    from huggingface_hub import ModelCard

    from fakezoo.hub.card import model_card

    out, _, _, _ = protocol
    result = json.loads((out / "protocol.json").read_text())
    [model] = result["models"]
    card = ModelCard(model_card(model["run"], "org/name", evaluations=[out]))
    got = {
        (r.dataset_name, r.dataset_split, r.metric_type): r.metric_value
        for r in card.data.eval_results
    }
    for r in result["results"]:
        for level in ("frame", "video"):
            key = (r["dataset"], f"test ({level} level)", "roc_auc")
            assert got[key] == pytest.approx(r[level]["roc_auc"])
            assert got[(*key[:2], "accuracy")] == pytest.approx(r[level]["accuracy"])
    assert "## Cross-dataset protocol" in card.text
    assert "Trained on the official training split of ff++:c23" in card.text
    cdf = next(r for r in result["results"] if r["dataset"] == "celebdf-v2")
    assert f"| celebdf-v2 | video | {cdf['video']['n']} | {cdf['video']['roc_auc']:.4f} |" in (
        card.text
    )
    assert "evaluated on one held-out validation split" in card.text
    # a run the protocol did not keep is refused, before any network access
    other = (
        out
        / "runs"
        / "mobilenet_v2"
        / next(f"lr-{t['lr']:g}" for t in model["lrs"] if t["lr"] != model["lr"])
    )
    assert main(["push", str(other), "org/x", "--eval", str(out)]) == 1
    assert "holds no results for the run" in capsys.readouterr().err
