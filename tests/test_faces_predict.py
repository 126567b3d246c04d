"""Whole photos and videos: `fakezoo crop` -> `fakezoo cv` (video groups within folds) ->
`predict(..., faces=True)` with the run's crop policy, through the API and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("facenet_pytorch")
pytest.importorskip("skimage")

from face_images import (
    OFFSET,
    SIDE,
    TOL,
    astronaut,
    no_face,
    placed,
    save_with_exif_rotation,
    write_video,
)

import fakezoo
from fakezoo.cli import EXIT_PARTIAL, main
from fakezoo.faces import CropPolicy, faces_in_images, find_faces
from fakezoo.faces.finder import default_finder
from fakezoo.inference.faces import NO_FACE, crop_policy

FRAMES = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Videos and photos -> `fakezoo crop` -> `fakezoo cv` on its manifest (2 folds)."""
    tmp = tmp_path_factory.mktemp("faces-run")
    src = tmp / "src"
    for k, label in enumerate(("real", "fake")):
        (src / label).mkdir(parents=True)
        for j, name in enumerate(("a.mp4", "b.avi")):  # different pictures in every video
            write_video(src / label / name, n_frames=6, step=8, start=2 + 3 * (2 * k + j))
    save_with_exif_rotation(placed(), src / "real" / "photo.jpg")
    Image.fromarray(placed()).save(src / "fake" / "photo.png")
    dst = tmp / "faces"
    assert (
        main(
            [
                "crop",
                str(src),
                str(dst),
                "--frames",
                str(FRAMES),
                "--size",
                "64",
                "--min-size",
                "30",
            ]
        )
        == 0
    )
    run = tmp / "run"
    assert (
        main(
            [
                "cv",
                str(dst / "manifest.csv"),
                "--model",
                "mobilenet_v2",
                "--no-finetune",
                "--lr",
                "1e-3",
                "--epochs",
                "1",
                "--folds",
                "2",
                "--batch-size",
                "8",
                "--no-pretrained",
                "--image-size",
                "32",
                "--device",
                "cpu",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    with (dst / "manifest.csv").open() as f:
        manifest = list(csv.DictReader(f))
    return {"src": src, "dst": dst, "run": run, "manifest": manifest}


def expected_box() -> np.ndarray:
    ref = np.array(find_faces(astronaut(SIDE))[0].box)
    return ref + np.array([OFFSET[0], OFFSET[1], OFFSET[0], OFFSET[1]])


def test_cv_on_a_cropped_dataset_keeps_video_groups_within_folds(trained):
    group_of = {row["path"]: row["group"] for row in trained["manifest"]}
    assert len(trained["manifest"]) == 4 * FRAMES + 2 and len(set(group_of.values())) == 6
    results = json.loads((trained["run"] / "results.json").read_text())
    fold_groups = [{group_of[p] for p in fold["val_files"]} for fold in results["folds"]]
    assert sum(len(g) for g in fold_groups) == 6  # each group in exactly one validation fold
    assert set.union(*fold_groups) == set(group_of.values())
    index = json.loads((trained["run"] / "config.json").read_text())
    assert index["preprocessing"]["face_crop"]["size"] == 64  # the crop policy travels with the run


def test_predict_faces_on_an_offcentre_rotated_photo(trained):
    photo = trained["src"] / "real" / "photo.jpg"
    p = fakezoo.predict(photo, model=trained["run"], faces=True)
    assert p.error is None and len(p.faces) == 1 and p.frames is None
    assert np.abs(np.array(p.faces[0].box) - expected_box()).max() <= TOL
    assert p.prob_fake == max(f.prob_fake for f in p.faces)
    assert len(p.fold_probs) == 2 and p.label in ("real", "fake")
    # the crop predict scores is the crop stored in the dataset for the same source
    det = fakezoo.load(trained["run"], device="cpu")
    policy = crop_policy(det.preprocessing)
    assert policy == CropPolicy(size=64)
    row = next(r for r in trained["manifest"] if r["source"] == "real/photo.jpg")
    stored = np.asarray(Image.open(trained["dst"] / row["path"]))
    [[(_, _, crops)]] = list(faces_in_images(photo, default_finder(), policy))
    assert np.array_equal(crops[0].pixels, stored)
    plain = fakezoo.predict(trained["dst"] / row["path"], model=trained["run"])
    assert plain.prob_fake == pytest.approx(p.prob_fake, abs=1e-6)


def test_predict_faces_two_faces_no_face_and_broken_files(trained, tmp_path):
    two = tmp_path / "two.png"
    Image.fromarray(np.concatenate([placed(), placed()], axis=1)).save(two)
    empty = tmp_path / "empty.png"
    Image.fromarray(no_face()).save(empty)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    rows = fakezoo.predict([two, empty, broken], model=trained["run"], faces=True)
    assert [r.path for r in rows] == [str(two), str(empty), str(broken)]
    assert len(rows[0].faces) == 2 and rows[0].prob_fake == max(f.prob_fake for f in rows[0].faces)
    assert rows[1].error == NO_FACE and rows[1].label is None
    assert rows[2].error and "Invalid" in rows[2].error and rows[2].label is None


def test_predict_faces_on_a_video(trained):
    clip = trained["src"] / "fake" / "a.mp4"
    p = fakezoo.predict(clip, model=trained["run"], faces=True, frames=4)
    assert p.error is None and p.faces is None and len(p.frames) == 4
    assert [f.frame for f in p.frames] == [0, 2, 3, 5]
    scores = [f.prob_fake for f in p.frames]
    assert all(s is not None for s in scores)
    assert p.prob_fake == pytest.approx(np.mean(scores))
    assert p.prob_fake == pytest.approx(np.mean(p.fold_probs))
    json.dumps(p.to_dict())


def test_cli_predict_faces_json(trained, capsys):
    photo = trained["src"] / "real" / "photo.jpg"
    code = main(
        [
            "predict",
            "--faces",
            "--format",
            "json",
            "--device",
            "cpu",
            "--model",
            str(trained["run"]),
            str(photo),
        ]
    )
    assert code == 0
    [row] = json.loads(capsys.readouterr().out)
    assert len(row["faces"]) == 1
    assert np.abs(np.array(row["faces"][0]["box"]) - expected_box()).max() <= TOL


def test_cli_predict_faces_says_which_inputs_had_no_face(trained, capsys, tmp_path):
    empty = tmp_path / "empty.png"
    Image.fromarray(no_face()).save(empty)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    photo = trained["src"] / "real" / "photo.jpg"
    argv = ["predict", "--faces", "--device", "cpu", "--model", str(trained["run"]), str(photo)]
    assert main([*argv, str(empty)]) == EXIT_PARTIAL
    assert "1 of 2 inputs had no face (see above)" in capsys.readouterr().err
    assert main([*argv, str(empty), str(broken)]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "2 of 3 inputs gave no verdict: 1 could not be read, 1 had no face" in err
