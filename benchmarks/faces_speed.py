"""Face finding + crop speed (photos/s, video frames/s) and box accuracy, batched vs plain.

What is measured, in one process, on images built here from ``skimage.data.astronaut()``
(public domain) pasted at known places on grey canvases:

* **accuracy**: for each photo, the largest distance (px) between a box edge MTCNN finds and
  where the face was placed (the box MTCNN finds on the photo alone, shifted), also on a
  copy stored sideways with an EXIF rotation and on two faces side by side.
* **photos/s**: ``load_image`` + finding faces + ``crop`` for every photo. **fakezoo** sends the
  equal-sized photos through MTCNN ``--batch`` at a time (``FaceFinder.find_batch``);
  **plain** calls facenet-pytorch's ``MTCNN.detect`` on one PIL image at a time.
* **video frames/s**: ``sample_frames`` (PyAV, streamed) + finding faces + crop of ``--frames``
  frames of a generated clip, batched as above, against plain: PyAV decodes every frame to
  PIL and ``MTCNN.detect`` runs on the sampled ones one by one.
* **end to end**: ``fakezoo.predict(clip, faces=True, frames=...)``: decode, find faces, crop and
  the fold ensemble (``--model RUN``, else 3 folds of ``--arch`` at 224 px with random
  weights, which does not change the speed), in sampled frames/s.

Every timing is the median of ``--repeats`` runs after a warm-up. Usage:
    ```bash
    python benchmarks/faces_speed.py --threads 1          # what docs/faces.md reports
    ```
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from skimage import data as skdata

from fakezoo.faces import CropPolicy, crop, load_image, sample_frames
from fakezoo.faces.finder import FaceFinder

CANVAS = (640, 480)
SIDE = 320


def astronaut(side: int) -> np.ndarray:
    img = Image.fromarray(skdata.astronaut()).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(img)


def placed(offset: tuple[int, int], canvas=CANVAS, side=SIDE) -> np.ndarray:
    out = np.full((canvas[1], canvas[0], 3), 90, np.uint8)
    out[offset[1] : offset[1] + side, offset[0] : offset[0] + side] = astronaut(side)
    return out


def write_photos(folder: Path, n: int, rng: np.random.Generator) -> list[tuple[Path, tuple]]:
    out = []
    for i in range(n):
        offset = (int(rng.integers(0, CANVAS[0] - SIDE)), int(rng.integers(0, CANVAS[1] - SIDE)))
        path = folder / f"photo{i:03d}.jpg"
        Image.fromarray(placed(offset)).save(path, quality=95)
        out.append((path, offset))
    return out


def write_clip(path: Path, n_frames: int) -> None:
    face = astronaut(SIDE)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = *CANVAS, "yuv420p"
        stream.options = {"qscale": "2"}
        for i in range(n_frames):
            x = int((CANVAS[0] - SIDE) * i / max(n_frames - 1, 1))
            frame = np.full((CANVAS[1], CANVAS[0], 3), 90, np.uint8)
            frame[80 : 80 + SIDE, x : x + SIDE] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--clip-frames", type=int, default=48, help="frames in the clip")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled from the clip")
    parser.add_argument("--batch", type=int, default=8, help="images per MTCNN call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--model", help="a run directory for the end-to-end timing")
    parser.add_argument("--arch", default="mobilenet_v2", help="without --model: 3 random folds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}"
    )
    det = FaceFinder()
    mtcnn = det.mtcnn  # the same MTCNN, called the plain way
    policy = CropPolicy()
    tmp = Path(tempfile.mkdtemp(prefix="faces-speed-"))
    photos = write_photos(tmp, args.photos, np.random.default_rng(0))
    clip = tmp / "clip.mp4"
    write_clip(clip, args.clip_frames)

    # accuracy
    ref = np.array(det.find(astronaut(SIDE))[0].box)
    errors = []
    for path, (ox, oy) in photos:
        faces = det.find(load_image(path))
        expected = ref + np.array([ox, oy, ox, oy])
        errors.append(
            np.abs(np.array(faces[0].box) - expected).max() if len(faces) == 1 else float("inf")
        )
    two = det.find(np.concatenate([placed((0, 0)), placed((0, 0))], axis=1))
    print(
        f"box error on {len(photos)} placed photos (px): median {statistics.median(errors):.1f}"
        f", max {max(errors):.1f}; two faces side by side -> {len(two)} found; reference box "
        f"at 512 px: {np.round(ref * 512 / SIDE).astype(int).tolist()}"
    )

    def fakezoo_photos() -> None:
        for start in range(0, len(photos), args.batch):
            images = [load_image(p) for p, _ in photos[start : start + args.batch]]
            for image, faces in zip(images, det.find_batch(images), strict=True):
                crop(image, faces[0], policy)

    def plain_photos() -> None:
        for path, _ in photos:
            img = Image.open(path).convert("RGB")
            boxes, _ = mtcnn.detect(img)
            img.crop(tuple(int(v) for v in boxes[0])).resize((policy.size,) * 2)

    def fakezoo_video() -> None:
        batch = []
        for _, frame in sample_frames(clip, args.frames):
            batch.append(frame)
            if len(batch) == args.batch:
                for image, faces in zip(batch, det.find_batch(batch), strict=True):
                    crop(image, faces[0], policy)
                batch = []
        for image, faces in zip(batch, det.find_batch(batch) if batch else [], strict=True):
            crop(image, faces[0], policy)

    def plain_video() -> None:
        with av.open(str(clip)) as container:
            frames = [f.to_image() for f in container.decode(video=0)]
        keep = np.linspace(0, len(frames) - 1, args.frames).round().astype(int)
        for i in keep:
            boxes, _ = mtcnn.detect(frames[i])
            frames[i].crop(tuple(int(v) for v in boxes[0])).resize((policy.size,) * 2)

    with torch.inference_mode():
        rows = [
            (
                "photos",
                args.photos,
                timed(fakezoo_photos, args.repeats),
                timed(plain_photos, args.repeats),
            ),
            (
                "video frames",
                args.frames,
                timed(fakezoo_video, args.repeats),
                timed(plain_video, args.repeats),
            ),
        ]
    for what, n, fz, plain in rows:
        print(
            f"{what}/s (detect + crop, {CANVAS[0]}x{CANVAS[1]}): fakezoo {n / fz:.2f}  plain "
            f"{n / plain:.2f}  ratio: {plain / fz:.2f}x"
        )
    import fakezoo

    model = args.model
    if model is None:
        folds = [fakezoo.create(args.arch, pretrained=False).eval() for _ in range(3)]
        model = fakezoo.Detector(folds, folds[0].preprocessing, device="cpu")

    def predict_video() -> None:
        p = fakezoo.predict(str(clip), model=model, faces=True, frames=args.frames)
        assert p.error is None and len(p.frames) == args.frames

    seconds = timed(predict_video, args.repeats)
    print(
        f"predict(video, faces=True) end to end ({args.model or f'3 x {args.arch}'}): "
        f"{args.frames / seconds:.2f} frames/s"
    )


if __name__ == "__main__":
    main()
