"""Miniature replicas of the field's benchmark datasets, in their distributed layouts: the exact
folders, lists and JSON files, holding a handful of short PyAV videos of a real face (the
astronaut, which the real MTCNN finds) that moves and, in fakes, carries an artifact of its
"method": a red tint of some strength, a green tint or a blur, so that a model trained on one
replica is tested on artifacts it has and has not seen.

``replica(tmp_path_factory, name)`` builds one once per test session (under the session's base
temp folder) and returns its root; ``EXPECTED`` says what each holds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from face_images import astronaut
from PIL import Image

FRAME = (160, 120)  # (w, h) of every replica video
FACE = 100  # side of the pasted astronaut; MTCNN finds a face of about 16 x 20 px in it
N_FRAMES = 6
MIN_SIZE = 10  # crop's min_size for these small faces

# `fakezoo protocol` on the replicas, tiny and with random weights: the test suite runs it and
# scripts/gen_benchmarks_table.py puts its table into docs/benchmarks.md.
PROTOCOL_ARGS = [
    "--models", "mobilenet_v2", "--no-pretrained", "--image-size", "32", "--epochs", "1",
    "--batch-size", "8", "--lr", "0.001", "0.01", "--no-finetune", "--frames", "2",
    "--crop-size", "64", "--min-size", str(MIN_SIZE), "--workers", "2", "--device", "cpu",
]  # fmt: skip

FF_PAIRS = {
    "train": [("000", "001"), ("002", "003")],
    "validation": [("004", "005")],
    "test": [("006", "007")],
}
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FF_FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}

CDF_VIDEOS = {
    "Celeb-real": ["id0_0000", "id1_0000", "id2_0000"],
    "YouTube-real": ["00000", "00001"],
    "Celeb-synthesis": ["id0_id1_0000", "id1_id0_0000", "id2_id0_0000", "id0_id2_0000"],
}
CDF_TEST = [
    "1 Celeb-real/id2_0000.mp4",
    "1 YouTube-real/00001.mp4",
    "0 Celeb-synthesis/id2_id0_0000.mp4",
    "0 Celeb-synthesis/id0_id2_0000.mp4",
]

DFDC_TRAIN = {  # dfdc_train_part_0/metadata.json
    "aaqaifqrwn.mp4": {"label": "FAKE", "split": "train", "original": "xugmhbetrw.mp4"},
    "abarnvbtwb.mp4": {"label": "REAL", "split": "train", "original": None},
    "xugmhbetrw.mp4": {"label": "REAL", "split": "train", "original": None},
    "bbhtdfuqxq.mp4": {"label": "FAKE", "split": "train", "original": "abarnvbtwb.mp4"},
}
DFDC_TEST = [
    ("aalscayrfi.mp4", 1),
    ("aayfryxljh.mp4", 0),
    ("acazlolrpz.mp4", 1),
    ("adohdulfwb.mp4", 0),
]

DFDCP = {  # dataset.json
    "method_A/643049/643049_A/1955231.mp4": ("fake", "train"),
    "method_A/643049/643049_A/1955232.mp4": ("fake", "test"),
    "method_B/1224068/1224068_C/1035034.mp4": ("fake", "test"),
    "original_videos/643049/1255229.mp4": ("real", "train"),
    "original_videos/1224068/1061519.mp4": ("real", "test"),
    "original_videos/1224068/1061520.mp4": ("real", "test"),
}


ARTIFACTS = {  # each replica's "manipulation methods": what their fakes' faces carry
    "Deepfakes": ("red", 60),
    "Face2Face": ("red", 35),
    "FaceSwap": ("red", 20),
    "NeuralTextures": ("red", 12),
    "Celeb-synthesis": ("blur", 1),
    "DFDC": ("green", 30),
    "method_A": ("red", 25),
    "method_B": ("blur", 1),
}


def _artifact(face: np.ndarray, method: str) -> np.ndarray:
    from PIL import ImageFilter

    kind, amount = ARTIFACTS[method]
    if kind == "blur":
        img = Image.fromarray(face).filter(ImageFilter.GaussianBlur(amount))
        return np.asarray(img)
    out = face.astype(np.int16)
    out[..., 0 if kind == "red" else 1] += amount
    return np.clip(out, 0, 255).astype(np.uint8)


def write_clip(path: Path, seed: int, fake: str | None, n_frames: int = N_FRAMES) -> None:
    """A short mpeg4 video: the astronaut moving right on a grey of its own (so no two videos
    share a frame); a fake's face carries its method's artifact (``ARTIFACTS``)."""
    import av

    rng = np.random.default_rng(seed)
    shade = int(rng.integers(-25, 25))  # each video's own lighting
    face = np.clip(astronaut(FACE).astype(np.int16) + shade, 0, 255).astype(np.uint8)
    if fake:
        face = _artifact(face, fake)
    grey = int(rng.integers(60, 200))
    x0, y0 = int(rng.integers(0, 20)), int(rng.integers(0, FRAME[1] - FACE))
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = *FRAME, "yuv420p"
        stream.options = {"qscale": "2"}
        for i in range(n_frames):
            frame = np.full((FRAME[1], FRAME[0], 3), grey, np.uint8)
            x = x0 + 6 * i
            frame[y0 : y0 + FACE, x : x + FACE] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _seed(text: str) -> int:
    return int.from_bytes(text.encode()[-6:].rjust(6, b"\0"), "big") % (2**31)


def make_ffpp(root: Path, compressions=("c23", "c40")) -> Path:
    for split, pairs in FF_PAIRS.items():
        (root / FF_FILES[split]).parent.mkdir(parents=True, exist_ok=True)
        (root / FF_FILES[split]).write_text(json.dumps([list(p) for p in pairs]))
    for comp in compressions:
        for pairs in FF_PAIRS.values():
            for a, b in pairs:
                for real in (a, b):
                    out = root / "original_sequences/youtube" / comp / "videos" / f"{real}.mp4"
                    write_clip(out, _seed(comp + real), None)
                for method in FF_METHODS:
                    for fake in (f"{a}_{b}", f"{b}_{a}"):
                        folder = root / "manipulated_sequences" / method / comp / "videos"
                        write_clip(folder / f"{fake}.mp4", _seed(comp + method + fake), method)
    return root


def make_celebdf(root: Path) -> Path:
    for folder, names in CDF_VIDEOS.items():
        for name in names:
            method = folder if folder.endswith("sis") else None
            write_clip(root / folder / f"{name}.mp4", _seed(folder + name), method)
    (root / "List_of_testing_videos.txt").write_text("\n".join(CDF_TEST) + "\n")
    return root


def make_dfdc(root: Path) -> Path:
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    (part / "metadata.json").write_text(json.dumps(DFDC_TRAIN))
    for name, entry in DFDC_TRAIN.items():
        write_clip(part / name, _seed(name), "DFDC" if entry["label"] == "FAKE" else None)
    test = root / "test"
    test.mkdir()
    with (test / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        writer.writerows(DFDC_TEST)
    for name, label in DFDC_TEST:
        write_clip(test / name, _seed(name), "DFDC" if label else None)
    return root


def make_dfdcp(root: Path) -> Path:
    root.mkdir(parents=True)
    meta = {key: {"label": label, "set": split} for key, (label, split) in DFDCP.items()}
    (root / "dataset.json").write_text(json.dumps(meta))
    for key, (label, _) in DFDCP.items():
        write_clip(root / key, _seed(key), key.split("/")[0] if label == "fake" else None)
    return root


def _frames(folder: Path, seed: int, fake: bool, n: int = 3) -> list[Path]:
    """DeepfakeBench-style crops: ``000.png``, ``010.png``... (frame numbers as names)."""

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        face = astronaut(64).astype(np.int16) + int(rng.integers(-20, 20))
        if fake:
            face[..., 0] += 60
        path = folder / f"{10 * i:03d}.png"
        Image.fromarray(np.clip(face, 0, 255).astype(np.uint8)).save(path)
        out.append(path)
    return out


def make_deepfakebench(root: Path) -> Path:
    """A DeepfakeBench checkout's data: ``preprocessing/dataset_json/FaceForensics++.json``
    (paths relative to ``datasets/rgb`` with Windows separators, as released) and
    ``Celeb-DF-v2.json`` (absolute paths; its test videos also under train and val, as
    ``rearrange.py`` writes them)."""
    rgb = root / "datasets" / "rgb"
    ff: dict = {"FF-real": {}, "FF-DF": {}}
    for split_key, split in (("train", "train"), ("val", "validation"), ("test", "test")):
        ff["FF-real"][split_key] = {"c23": {}}
        ff["FF-DF"][split_key] = {"c23": {}}
        for a, b in FF_PAIRS[split]:
            for label, names in (("FF-real", [a, b]), ("FF-DF", [f"{a}_{b}", f"{b}_{a}"])):
                for name in names:
                    kind = (
                        "original_sequences/youtube"
                        if label == "FF-real"
                        else ("manipulated_sequences/Deepfakes")
                    )
                    folder = rgb / "FaceForensics++" / kind / "c23" / "frames" / name
                    frames = _frames(folder, _seed(label + name), label != "FF-real")
                    rel = [str(f.relative_to(rgb)).replace("/", "\\") for f in frames]
                    ff[label][split_key]["c23"][name] = {"label": label, "frames": rel}
    cdf: dict = {
        "CelebDFv2_real": {"train": {}, "val": {}, "test": {}},
        "CelebDFv2_fake": {"train": {}, "val": {}, "test": {}},
    }
    for label, names, test in (
        ("CelebDFv2_real", ["id0_0000", "id1_0000"], "id1_0000"),
        ("CelebDFv2_fake", ["id0_id1_0000", "id1_id0_0000"], "id1_id0_0000"),
    ):
        for name in names:
            kind = "Celeb-synthesis" if "fake" in label else "Celeb-real"
            folder = rgb / "Celeb-DF-v2" / kind / "frames" / name
            frames = [str(f) for f in _frames(folder, _seed(name), "fake" in label)]
            entry = {"label": label, "frames": frames}
            cdf[label]["train"][name] = entry
            if name == test:
                cdf[label]["val"][name] = cdf[label]["test"][name] = entry
    out = root / "preprocessing" / "dataset_json"
    out.mkdir(parents=True)
    (out / "FaceForensics++.json").write_text(json.dumps({"FaceForensics++": ff}))
    (out / "Celeb-DF-v2.json").write_text(json.dumps({"Celeb-DF-v2": cdf}))
    return root


BUILDERS = {
    "ff++": make_ffpp,
    "celebdf-v2": make_celebdf,
    "dfdc": make_dfdc,
    "dfdcp": make_dfdcp,
    "deepfakebench": make_deepfakebench,
}
FOLDERS = {
    "ff++": "FaceForensics++",
    "celebdf-v2": "Celeb-DF-v2",
    "dfdc": "DFDC",
    "dfdcp": "DFDCP",
    "deepfakebench": "DeepfakeBench",
}


def replica(tmp_path_factory, name: str) -> Path:
    """The replica of `name`, built once per session under ``<basetemp>/replicas``."""
    base = tmp_path_factory.getbasetemp() / "replicas"
    root = base / FOLDERS[name]
    done = base / f"{FOLDERS[name]}.done"
    if not done.exists():
        BUILDERS[name](root)
        done.touch()
    return root


def data_root(tmp_path_factory) -> Path:
    """A data root holding every replica in its conventional folder."""
    for name in BUILDERS:
        if name != "deepfakebench":
            replica(tmp_path_factory, name)
    return tmp_path_factory.getbasetemp() / "replicas"
