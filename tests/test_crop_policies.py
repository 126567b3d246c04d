"""The field's crop policies: DeepfakeBench's five-landmark alignment and SBI's box crop, checked
against scikit-image and against SBI's own arithmetic, and `fakezoo crop` with each policy on
the benchmark replicas (real videos, the real MTCNN)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("facenet_pytorch")
transform = pytest.importorskip("skimage.transform")

import benchmark_data as bd  # noqa: E402
from face_images import astronaut  # noqa: E402

from fakezoo.datasets import read_dataset  # noqa: E402
from fakezoo.faces import POLICIES, AlignedCropPolicy, CropPolicy, crop_dataset, find_faces  # noqa: E402
from fakezoo.faces.finder import Face  # noqa: E402
from fakezoo.faces.policy import (  # noqa: E402
    keep_faces,
    policy_from_dict,
    policy_with,
    similarity_transform,
)
from fakezoo.faces.video import frame_indices  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_similarity_transform_equals_scikit_image():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    dst = rng.uniform(0, 256, (5, 2))
    ours = similarity_transform(src, dst)
    reference = transform.SimilarityTransform.from_estimate(src, dst).params[:2]
    assert np.allclose(ours, reference, atol=1e-9)


def test_aligned_crop_is_scikit_image_warp_onto_the_template():
    policy = AlignedCropPolicy()
    # five landmarks that are an exact similarity image of the template: 20 degrees, x0.7
    angle, k = np.deg2rad(20), 0.7
    rot = k * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = policy.template() @ rot.T + [60.0, 40.0]
    face = Face((0, 0, 1, 1), 0.99, tuple(map(tuple, points)))
    matrix = policy.matrix(face)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, policy.template(), atol=1e-6)
    # the template at scale 1.3 and 256 px: DeepfakeBench's numbers
    left_eye = ((38.2946 * 256 / 112 + 38.4) / 1.3, (51.6963 * 256 / 112 + 38.4) / 1.3)
    assert np.allclose(policy.template()[0], left_eye)
    image = np.asarray(Image.fromarray(astronaut(240)).resize((300, 260)))
    ours = policy.cut(image, face).astype(np.float64)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
    ref = transform.warp(
        image,
        transform.AffineTransform(matrix=inverse),
        output_shape=(256, 256),
        order=1,
        preserve_range=True,
        cval=0,
    )
    rows, cols = np.mgrid[0:256, 0:256]
    sx, sy = inverse[:2] @ np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)])
    inside = ((sx >= 1) & (sx <= 298) & (sy >= 1) & (sy <= 258)).reshape(256, 256)
    assert inside.mean() > 0.5  # away from the image's edge, where the fills blend differently
    assert np.abs(ours - ref)[inside].max() <= 1.0 + 1e-6


def test_aligned_crop_of_a_real_face_puts_its_landmarks_on_the_template():
    image = np.full((300, 400, 3), 90, np.uint8)
    image[30:270, 90:330] = astronaut(240)
    [face] = find_faces(image)
    policy = AlignedCropPolicy()
    patch = policy.cut(image, face)
    assert patch.shape == (256, 256, 3)
    found = np.asarray(find_faces(patch)[0].landmarks)  # MTCNN again, on the aligned crop
    matrix = policy.matrix(face)
    moved = np.asarray(face.landmarks) @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(found - moved).max() < 4  # the warp moved the face where the matrix says
    assert np.abs(found - policy.template()).mean() < 8  # ... which is onto the template
    x0, y0, x1, y1 = policy.face_region(face, (400, 300))
    assert x0 < face.box[0] and y0 < face.box[1] and x1 > face.box[2] and y1 > face.box[3]


def _sbi_region(box, width, height):
    """SBI's crop_face(..., crop_by_bbox=True, phase='test') arithmetic, written out."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    mw, mh = w / 4 * 0.5, h / 4 * 0.5
    return (
        max(0, int(x0 - mw)),
        max(0, int(y0 - mh)),
        min(width, int(x1 + mw) + 1),
        min(height, int(y1 + mh) + 1),
    )


@pytest.mark.parametrize(
    "box", [(40.3, 22.8, 140.1, 160.9), (1.0, 3.0, 90.0, 118.5), (250.2, 180.0, 318.7, 239.9)]
)
def test_sbi_policy_region_is_sbi_arithmetic(box):
    policy = POLICIES["sbi"]
    assert policy.region(box, (320, 240)) == _sbi_region(box, 320, 240)
    image = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    x0, y0, x1, y1 = _sbi_region(box, 320, 240)
    expected = np.asarray(
        Image.fromarray(image[y0:y1, x0:x1]).resize((380, 380), Image.Resampling.BILINEAR)
    )
    assert np.array_equal(policy.cut(image, box), expected)


def test_face_rules_and_frame_sampling():
    faces = [Face((0, 0, 10, 10), 1.0), Face((0, 0, 8, 7), 1.0), Face((0, 0, 6, 6), 1.0)]
    assert keep_faces(faces, "largest") == faces[:1]
    assert keep_faces(faces, "half_of_largest") == faces[:2]  # 56 >= 50 > 36
    assert keep_faces(faces, None) == faces
    for total, n in ((300, 32), (100, 32), (33, 32), (10, 4)):
        floor = sorted(set(np.linspace(0, total - 1, n, endpoint=True, dtype=int).tolist()))
        assert frame_indices(total, n, "floor") == floor
    assert frame_indices(10, 4, "rounded") == [0, 3, 6, 9] != frame_indices(11, 4, "floor")
    policy = policy_with("deepfakebench", size=128)
    assert policy == AlignedCropPolicy(size=128)
    assert policy_from_dict(policy.to_dict()) == policy
    assert policy_from_dict(POLICIES["sbi"].to_dict()) == POLICIES["sbi"]
    with pytest.raises(ValueError, match="margin does not apply to the deepfakebench policy"):
        policy_with("deepfakebench", margin=0.3)
    with pytest.raises(ValueError, match="version 1 is not 2"):
        policy_from_dict({**CropPolicy().to_dict(), "version": 1})


SIZES = {"fakezoo": 64, "deepfakebench": 96, "sbi": 80}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    return {
        name: read_dataset(f"{name}=" + str(bd.replica(tmp_path_factory, name)))
        for name in ("ff++", "celebdf-v2", "dfdc", "dfdcp")
    }


@pytest.mark.parametrize("name", ["fakezoo", "deepfakebench", "sbi"])
def test_crop_each_replica_with_each_policy(name, replicas, tmp_path):
    policy = policy_with(name, size=SIZES[name])
    for dataset, index in replicas.items():
        dst = tmp_path / dataset
        report = crop_dataset(
            index.to_dataset(), dst, policy=policy, frames=2, min_size=bd.MIN_SIZE, workers=2
        )
        assert not report.undecodable and not report.no_face, report.summary()
        settings = json.loads((dst / "crop.json").read_text())
        assert settings["frames"] == 2 and settings["policy"]["kind"] == policy.to_dict()["kind"]
        recorded = policy_from_dict(settings["policy"])
        assert recorded.size == SIZES[name]
        assert recorded.frames == (None if name == "fakezoo" else 2)  # the record is the truth
        with (dst / "manifest.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        by_video = {v.id: v for v in index.videos}
        assert {r["group"] for r in rows} == set(by_video)
        for row in rows:
            video = by_video[row["group"]]
            assert row["label"] == video.label_name and row["split"] == video.split
            assert row["source"] == video.path.relative_to(index.root).as_posix()
        counts = {}
        for row in rows:
            counts[row["group"]] = counts.get(row["group"], 0) + 1
        assert set(counts.values()) == {2}  # two frames, one face each
        with Image.open(dst / rows[0]["path"]) as img:
            assert img.size == (SIZES[name], SIZES[name])


def test_crop_command_reads_a_benchmark_by_name(tmp_path_factory, tmp_path, capsys):
    from fakezoo.cli import main

    src = f"celebdf-v2={bd.replica(tmp_path_factory, 'celebdf-v2')}"
    dst = tmp_path / "cdf"
    argv = ["crop", src, str(dst), "--policy", "deepfakebench", "--frames", "2", "--size", "64"]
    assert main([*argv, "--min-size", str(bd.MIN_SIZE), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "celebdf-v2 in " in out and "18 face crops from 9 sources" in out
    settings = json.loads((dst / "crop.json").read_text())
    assert settings["policy"] == AlignedCropPolicy(size=64, frames=2).to_dict()
    with (dst / "videos.csv").open() as handle:  # splits and methods beside the crops
        videos = {r["id"]: r for r in csv.DictReader(handle)}
    assert len(videos) == 9
    assert videos["Celeb-synthesis/id2_id0_0000"] == {
        "id": "Celeb-synthesis/id2_id0_0000",
        "path": "Celeb-synthesis/id2_id0_0000.mp4",
        "label": "fake",
        "split": "test",
        "method": "Celeb-synthesis",
        "compression": "",
        "frames": "",
    }
    assert (
        main(["crop", src, str(tmp_path / "x"), "--policy", "deepfakebench", "--margin", "0.3"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "fakezoo crop: error: --margin does not apply to the deepfakebench policy "
        "(its settings: faces, frames, sampling, scale, size)"
    ]


def test_a_truncated_video_is_one_line_and_the_rest_is_cropped(tmp_path_factory, tmp_path, caplog):
    import logging
    import shutil

    root = tmp_path / "DFDC"
    shutil.copytree(bd.replica(tmp_path_factory, "dfdc"), root)
    broken = root / "test" / "aalscayrfi.mp4"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    index = read_dataset(f"dfdc={root}")
    assert len(index) == 8 and not index.problems  # reading opens no video
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        report = crop_dataset(
            index.to_dataset(),
            tmp_path / "crops",
            policy="sbi",
            frames=2,
            min_size=bd.MIN_SIZE,
            workers=2,
        )
    assert report.undecodable == ["test/aalscayrfi.mp4"]
    assert report.sources == 8 and not report.no_face
    lines = [r.getMessage() for r in caplog.records if "aalscayrfi" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(f"crop: skipped {broken}: ")
    with (tmp_path / "crops" / "report.csv").open() as handle:
        status = {r["source"]: r["status"] for r in csv.DictReader(handle)}
    assert status.pop("test/aalscayrfi.mp4") == "undecodable"
    assert set(status.values()) == {"ok"} and len(status) == 7


KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from fakezoo.datasets import read_dataset
from fakezoo.faces import crop_dataset
from fakezoo.faces.finder import FaceFinder

class DiesOnItsThirdBatch(FaceFinder):  # kill -9 in the middle of the dataset
    calls = 0
    def find_batch(self, images):
        type(self).calls += 1
        if self.calls == 3:  # the third video: once the first two are on record (the loop
            # that records them runs beside this worker, and a loaded machine may delay it)
            import csv, time
            report = os.path.join(sys.argv[2], "report.csv")
            for _ in range(1200):
                with open(report) as handle:
                    if len(list(csv.DictReader(handle))) >= 2:
                        break
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().find_batch(images)

index = read_dataset(sys.argv[1])
crop_dataset(index.to_dataset(), sys.argv[2], policy="deepfakebench", frames=2, min_size=10,
             workers=1, finder=DiesOnItsThirdBatch())
"""


def test_cropping_resumes_after_a_kill_and_never_redoes_a_finished_video(
    tmp_path_factory, tmp_path
):
    import os
    import signal
    import subprocess
    import sys

    spec = f"dfdcp={bd.replica(tmp_path_factory, 'dfdcp')}"
    dst = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", KILLER, spec, str(dst)], env=env, timeout=300)
    assert done.returncode == -signal.SIGKILL
    with (dst / "report.csv").open() as handle:
        finished = [r["source"] for r in csv.DictReader(handle)]
    assert len(finished) == 2  # two videos (one batch each) were done before the kill
    stamps = {p: p.stat().st_mtime_ns for p in dst.rglob("*.png")}
    index = read_dataset(spec)
    report = crop_dataset(
        index.to_dataset(), dst, policy="deepfakebench", frames=2, min_size=bd.MIN_SIZE, workers=1
    )
    assert report.resumed == 2 and report.sources == 6 and not report.no_face
    kept = {p: t for p, t in stamps.items() if p.exists()}
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished crops not redone
    whole = tmp_path / "whole"
    crop_dataset(
        index.to_dataset(), whole, policy="deepfakebench", frames=2, min_size=bd.MIN_SIZE, workers=1
    )

    def rows(folder):
        with (folder / "manifest.csv").open() as handle:
            return sorted(tuple(r.values()) for r in csv.DictReader(handle))

    assert rows(dst) == rows(whole)  # the same crops as a run that was never killed
    landmarks = [sorted((f / "landmarks.csv").read_text().splitlines()) for f in (dst, whole)]
    assert landmarks[0] == landmarks[1] and len(landmarks[0]) == len(rows(whole)) + 1
    for path in whole.rglob("*.png"):
        assert (dst / path.relative_to(whole)).read_bytes() == path.read_bytes()
