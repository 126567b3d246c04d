"""The benchmark readers on miniature replicas of each distributed layout (tests/benchmark_data):
labels, official splits, groups and methods, and one problem line per thing they cannot use."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("skimage.data")

import benchmark_data as bd

from fakezoo.datasets import (
    parse_spec,
    read_celebdf,
    read_dataset,
    read_deepfakebench,
    read_dfdc,
    read_dfdcp,
    read_ffpp,
)
from fakezoo.errors import DatasetError


@pytest.fixture(scope="module")
def ffpp(tmp_path_factory):
    return bd.replica(tmp_path_factory, "ff++")


def _by_id(index):
    return {v.id: v for v in index.videos}


def test_ffpp_official_pairs_give_splits_labels_methods_and_groups(ffpp):
    index = read_ffpp(ffpp, "c23")
    assert index.name == "ff++:c23" and not index.problems
    videos = _by_id(index)
    for split, pairs in bd.FF_PAIRS.items():
        for a, b in pairs:
            assert videos[f"youtube/{a}"].split == videos[f"youtube/{b}"].split == split
            assert videos[f"youtube/{a}"].label == 0 and videos[f"youtube/{a}"].method is None
            for method in bd.FF_METHODS:
                for fake in (f"{a}_{b}", f"{b}_{a}"):
                    v = videos[f"{method}/{fake}"]
                    assert (v.label, v.split, v.method, v.compression) == (1, split, method, "c23")
                    assert v.path.parent.parts[-3:] == (method, "c23", "videos")
    assert index.counts() == {
        "train": {"real": 4, "fake": 16},
        "validation": {"real": 2, "fake": 8},
        "test": {"real": 2, "fake": 8},
    }
    ds = index.to_dataset(["train", "validation"])
    assert len(ds) == 30 and set(ds.splits) == {"train", "validation"}
    assert len(set(ds.groups)) == 30  # one group per video
    assert ds.relpaths()[0].startswith("manipulated_sequences/Deepfakes/c23/videos/")


def test_ffpp_compression_and_methods_are_selectable(ffpp):
    index = read_dataset("ff++:c40:faceswap,deepfakes", ffpp)
    assert index.name == "ff++:c40:FaceSwap,Deepfakes"
    assert index.methods() == ["Deepfakes", "FaceSwap"]
    assert {v.compression for v in index.videos} == {"c40"}
    assert all("/c40/" in v.path.as_posix() for v in index.videos)
    with pytest.raises(ValueError, match="unknown FaceForensics\\+\\+ method 'Deepfake'"):
        read_ffpp(ffpp, "c23", ["Deepfake"])
    with pytest.raises(ValueError, match="compression 'c30'"):
        read_ffpp(ffpp, "c30")


def test_ffpp_missing_lists_absent_videos_and_methods_are_one_line_each(ffpp, tmp_path, caplog):
    root = tmp_path / "FaceForensics++"
    shutil.copytree(ffpp, root, ignore=shutil.ignore_patterns("c40"))
    (root / "test.json").unlink()  # no test split
    (root / "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4").unlink()
    (root / "manipulated_sequences/FaceSwap/c23/videos/002_003.mp4").write_bytes(b"")
    shutil.rmtree(root / "manipulated_sequences/NeuralTextures")
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        index = read_ffpp(root, "c23")
    problems = [str(p) for p in index.problems]
    assert len(problems) == 5, problems
    assert problems[0].endswith(
        "test.json: missing: no test split (get it from "
        "https://github.com/ondyari/FaceForensics/tree/master/dataset/splits)"
    )
    assert problems[1].endswith(
        "Deepfakes/c23/videos: 1 video of the split files is absent: 000_001; left out"
    )
    assert problems[2].endswith("FaceSwap/c23/videos: 1 video file is empty: 002_003.mp4; left out")
    assert (
        "NeuralTextures/c23/videos: missing: the NeuralTextures c23 videos are left out"
        in (problems[3])
    )
    # the test pair's 8 videos are in no split file any more: one line, they keep no split
    assert problems[4].endswith(
        "8 videos are in none of the split files (e.g. youtube/006, youtube/007, "
        "Deepfakes/006_007): they keep no split"
    )
    videos = _by_id(index)
    assert "Deepfakes/000_001" not in videos and "FaceSwap/002_003" not in videos
    assert videos["youtube/006"].split is None and "FaceSwap/002_003" not in videos
    assert set(index.counts()) == {"train", "validation", "none"}
    assert len(caplog.records) == len(problems)


def test_ffpp_without_any_split_file_keeps_videos_without_split(ffpp, tmp_path):
    root = tmp_path / "FaceForensics++"
    shutil.copytree(ffpp / "original_sequences", root / "original_sequences")
    index = read_ffpp(root, "c23", ["Deepfakes"])
    assert {v.split for v in index.videos} == {None} and len(index) == 8
    assert "no train.json, val.json or test.json" in str(index.problems[0])
    assert index.to_dataset().splits is None
    with pytest.raises(DatasetError, match="not a FaceForensics\\+\\+ folder"):
        read_ffpp(tmp_path / "elsewhere")


def test_celebdf_test_list_one_means_real(tmp_path_factory):
    index = read_celebdf(bd.replica(tmp_path_factory, "celebdf-v2"))
    videos = _by_id(index)
    assert not index.problems
    assert videos["YouTube-real/00001"].split == "test" and videos["YouTube-real/00001"].label == 0
    assert videos["Celeb-synthesis/id2_id0_0000"].split == "test"
    assert videos["Celeb-synthesis/id2_id0_0000"].label == 1
    assert videos["Celeb-synthesis/id0_id1_0000"].split == "train"
    assert index.counts() == {"train": {"real": 3, "fake": 2}, "test": {"real": 2, "fake": 2}}
    assert index.methods() == ["Celeb-synthesis"]


def test_celebdf_missing_list_absent_and_contradicting_entries(tmp_path_factory, tmp_path):
    root = tmp_path / "Celeb-DF-v2"
    shutil.copytree(bd.replica(tmp_path_factory, "celebdf-v2"), root)
    (root / "List_of_testing_videos.txt").unlink()
    index = read_celebdf(root)
    [problem] = index.problems
    assert str(problem).endswith(
        "List_of_testing_videos.txt: missing: no test split, every video is in the training split"
    )
    assert {v.split for v in index.videos} == {"train"} and len(index) == 9
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id2_0000.mp4\n0 Celeb-real/id1_0000.mp4\n1 YouTube-real/09999.mp4\n"
    )
    problems = [str(p) for p in read_celebdf(root).problems]
    assert len(problems) == 2, problems
    assert "lists Celeb-real/id1_0000.mp4 as fake, but its folder says real" in problems[0]
    assert "1 listed video is absent: YouTube-real/09999.mp4; left out" in problems[1]


def test_dfdc_metadata_and_test_labels(tmp_path_factory, tmp_path):
    src = bd.replica(tmp_path_factory, "dfdc")
    index = read_dfdc(src)
    videos = _by_id(index)
    assert videos["dfdc_train_part_0/aaqaifqrwn"].label == 1
    assert videos["dfdc_train_part_0/abarnvbtwb"].label == 0
    assert videos["test/aalscayrfi"].split == "test" and videos["test/aalscayrfi"].label == 1
    assert videos["test/aayfryxljh"].label == 0 and videos["test/aalscayrfi"].method == "DFDC"
    assert index.counts() == {"train": {"real": 2, "fake": 2}, "test": {"real": 2, "fake": 2}}
    root = tmp_path / "DFDC"
    shutil.copytree(src, root)
    meta = json.loads((root / "dfdc_train_part_0/metadata.json").read_text())
    meta["gone.mp4"] = {"label": "FAKE", "split": "train", "original": "x.mp4"}
    (root / "dfdc_train_part_0/metadata.json").write_text(json.dumps(meta))
    (root / "test/labels.csv").unlink()
    problems = [str(p) for p in read_dfdc(root).problems]
    assert len(problems) == 2, problems
    assert "metadata.json: 1 listed video is absent: gone.mp4; left out" in problems[0]
    assert "test/labels.csv: missing: no test labels" in problems[1]


def test_dfdcp_dataset_json_label_set_and_method(tmp_path_factory, tmp_path):
    src = bd.replica(tmp_path_factory, "dfdcp")
    index = read_dfdcp(src)
    videos = _by_id(index)
    v = videos["method_B/1224068/1224068_C/1035034"]
    assert (v.label, v.split, v.method) == (1, "test", "method_B")
    assert videos["original_videos/643049/1255229"].label == 0
    assert index.counts() == {"train": {"real": 1, "fake": 1}, "test": {"real": 2, "fake": 2}}
    # SBI's arrangement (a videos/ level below each folder) is found as well
    root = tmp_path / "DFDCP"
    for key in bd.DFDCP:
        first, _, rest = key.partition("/")
        (root / first / "videos" / rest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / key, root / first / "videos" / rest)
    meta = json.loads((src / "dataset.json").read_text())
    meta["method_A/1/1_A/404.mp4"] = {"label": "fake", "set": "test"}
    (root / "dataset.json").write_text(json.dumps(meta))
    moved = read_dfdcp(root)
    assert len(moved) == len(index)
    [problem] = moved.problems
    assert "dataset.json: 1 listed video is absent: method_A/1/1_A/404.mp4; left out" in str(
        problem
    )


def test_deepfakebench_json_read_as_it_is(tmp_path_factory):
    root = bd.replica(tmp_path_factory, "deepfakebench")
    ff = read_deepfakebench(root / "preprocessing/dataset_json/FaceForensics++.json")
    assert ff.name == "deepfakebench:FaceForensics++:c23" and not ff.problems
    assert ff.root == root / "datasets" / "rgb"  # DeepfakeBench's rgb_dir, found beside it
    videos = _by_id(ff)
    v = videos["FF-DF/000_001"]
    assert (v.label, v.split, v.method, v.compression) == (1, "train", "Deepfakes", "c23")
    assert [p.name for p in v.frames] == ["000.png", "010.png", "020.png"]
    assert videos["FF-real/006"].split == "test" and videos["FF-real/004"].split == "validation"
    frames = ff.to_dataset(["test"])
    assert len(frames) == 4 * 3 and len(set(frames.groups)) == 4
    assert np.array_equal(np.unique(frames.labels), [0, 1])
    # Celeb-DF as rearrange.py writes it: its test videos are under train and val too
    cdf = read_deepfakebench(root / "preprocessing/dataset_json/Celeb-DF-v2.json")
    assert _by_id(cdf)["CelebDFv2_real/id1_0000"].split == "test"
    assert _by_id(cdf)["CelebDFv2_real/id0_0000"].split == "train"
    [problem] = cdf.problems
    assert "2 videos are listed under several splits" in str(problem)


def test_deepfakebench_absent_frames_and_wrong_rgb_dir(tmp_path_factory, tmp_path):
    root = bd.replica(tmp_path_factory, "deepfakebench")
    data = json.loads((root / "preprocessing/dataset_json/FaceForensics++.json").read_text())
    data["FaceForensics++"]["FF-DF"]["test"]["c23"]["006_007"]["frames"].append(
        "FaceForensics++\\manipulated_sequences\\Deepfakes\\c23\\frames\\006_007\\990.png"
    )
    edited = tmp_path / "FaceForensics++.json"
    edited.write_text(json.dumps(data))
    index = read_deepfakebench(edited, root / "datasets" / "rgb")
    [problem] = index.problems
    assert "1 listed frame is absent (of 49) under" in str(problem) and "990.png" in str(problem)
    assert len(_by_id(index)["FF-DF/006_007"].frames) == 3
    with pytest.raises(DatasetError, match="none of the 48 frames named by"):
        read_deepfakebench(root / "preprocessing/dataset_json/FaceForensics++.json", tmp_path)


def test_spec_parsing():
    spec = parse_spec("ff++:c40:Deepfakes=/data/FF")
    assert (spec.name, spec.compression, spec.methods) == ("ff++", "c40", ("Deepfakes",))
    assert spec.label == "ff++:c40:Deepfakes" and str(spec.path) == "/data/FF"
    assert parse_spec("FaceForensics++").label == "ff++:c23"
    assert parse_spec("cdfv2").name == "celebdf-v2"
    with pytest.raises(ValueError, match="unknown dataset 'uadfv'"):
        parse_spec("uadfv")
    with pytest.raises(ValueError, match="dfdc takes no option 'c23'"):
        parse_spec("dfdc:c23")
