"""`fakezoo crop --policy deepfakebench` speed: frames/s, and hours per 1,000 videos, vs plain.

The videos are generated here, at a realistic length and resolution (default: 10 s at 25 fps,
1280x720, H.264 at CRF 23 like FaceForensics++'s c23; FF++'s videos run 300 to 700 frames at
480p to 1080p, DFDC's 300 at 1080p): ``skimage.data.astronaut()`` (public domain), whose face
the real MTCNN finds, drifting over a textured background.

* **fakezoo**: ``crop_dataset(..., policy="deepfakebench")``: each video's 32 frames (decoded
  once, in order, one at a time), MTCNN in batches of 8 frames, the five-landmark alignment,
  PNG crops, ``--workers`` videos at once (threads: decoding and MTCNN release the GIL).
* **plain**: the way DeepfakeBench's ``preprocess.py`` loops, one video after another: decode
  every frame, keep the 32 on ``numpy.linspace``, MTCNN on each kept frame alone, the largest
  face, scikit-image's ``SimilarityTransform`` and ``warp``, PNG.

Both keep faces with MTCNN's score >= 0.9 and a side >= ``--min-size`` (the crop counts are
printed). Each timing is the median of
``--repeats`` runs into a fresh folder. Usage:
    ```bash
    python benchmarks/crop_speed.py                       # what docs/benchmarks.md reports
    python benchmarks/crop_speed.py --videos 2 --seconds 2 --width 320 --height 240  # quick
    ```
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from skimage import data as skdata
from skimage import transform

from fakezoo.faces import AlignedCropPolicy, crop_dataset
from fakezoo.faces.finder import FaceFinder


def write_video(path: Path, seconds: float, fps: int, size: tuple[int, int], seed: int) -> None:
    """An H.264 (CRF 23) video: the astronaut drifting over a textured grey background."""
    rng = np.random.default_rng(seed)
    width, height = size
    side = int(height * 0.6)
    face = np.asarray(
        Image.fromarray(skdata.astronaut()).resize((side, side), Image.Resampling.BILINEAR)
    )
    texture = rng.integers(70, 130, (height, width, 3), dtype=np.uint8)
    n = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i in range(n):
            frame = np.roll(texture, i, axis=1)
            x = int((width - side) * (0.2 + 0.6 * i / max(n - 1, 1)))
            y = (height - side) // 2
            frame[y : y + side, x : x + side] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def plain_crop(
    videos: list[Path], out: Path, mtcnn, policy: AlignedCropPolicy, min_size: float
) -> int:
    """One video after another, every frame decoded, MTCNN one frame at a time, skimage."""
    crops = 0
    template = policy.template()
    for video in videos:
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        keep = np.linspace(0, len(frames) - 1, policy.frames, endpoint=True, dtype=int)
        for index in sorted(set(keep.tolist())):
            boxes, scores, points = mtcnn.detect(frames[index], landmarks=True)
            if boxes is None:
                continue
            boxes, points = np.asarray(boxes, float), np.asarray(points, float)
            sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            ok = (np.asarray(scores, float) >= 0.9) & (sides >= min_size)  # as fakezoo crop
            if not ok.any():
                continue
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            largest = int(np.argmax(np.where(ok, area, -1)))
            tform = transform.SimilarityTransform.from_estimate(points[largest], template)
            aligned = transform.warp(
                frames[index],
                tform.inverse,
                output_shape=(policy.size, policy.size),
                order=1,
                preserve_range=True,
            )
            folder = out / video.stem
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(aligned.astype(np.uint8)).save(folder / f"{index:03d}.png")
            crops += 1
    return crops


def median_time(fn, repeats: int) -> tuple[float, int]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each video")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--workers", type=int, default=2, help="videos cropped at once")
    parser.add_argument("--min-size", type=float, default=40, help="smallest face side, px")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="the face finder's device")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain loop")
    parser.add_argument("--workdir", help="keep the videos and crops here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="crop-speed-"))
    src = work / "videos" / "real"
    src.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    videos = []
    for i in range(args.videos):
        path = src / f"{i:03d}.mp4"
        if not path.exists():
            write_video(path, args.seconds, args.fps, (args.width, args.height), seed=i)
        videos.append(path)
    (work / "videos" / "fake").mkdir(exist_ok=True)
    n_frames = int(args.seconds * args.fps)
    mb = sum(p.stat().st_size for p in videos) / len(videos) / 1e6
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"threads {torch.get_num_threads()}, device {args.device}; load average before "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"videos: {args.videos} generated in {time.perf_counter() - started:.0f}s, "
        f"{args.width}x{args.height}, {n_frames} frames at {args.fps} fps, H.264 CRF 23, "
        f"{mb:.1f} MB each"
    )
    policy = AlignedCropPolicy()
    finder = FaceFinder(device=args.device)
    sampled = args.videos * min(policy.frames, n_frames)

    def fakezoo_run() -> int:
        dst = work / "fakezoo"
        shutil.rmtree(dst, ignore_errors=True)
        report = crop_dataset(
            work / "videos",
            dst,
            policy=policy,
            workers=args.workers,
            finder=finder,
            min_size=args.min_size,
            progress=False,
        )
        return report.crops

    seconds, crops = median_time(fakezoo_run, args.repeats)
    print(
        f"fakezoo crop --policy deepfakebench ({args.workers} workers): {sampled / seconds:.2f} "
        f"frames/s, {seconds / args.videos:.1f} s per video, "
        f"{seconds / args.videos * 1000 / 3600:.1f} h per 1,000 videos ({crops} crops)"
    )
    if not args.no_plain:
        from facenet_pytorch.models.mtcnn import MTCNN

        mtcnn = MTCNN(keep_all=True, post_process=False, device=args.device).eval()

        def plain_run() -> int:
            dst = work / "plain"
            shutil.rmtree(dst, ignore_errors=True)
            with torch.inference_mode():
                return plain_crop(videos, dst, mtcnn, policy, args.min_size)

        plain_seconds, plain_crops = median_time(plain_run, args.repeats)
        print(
            f"plain loop (one video, one frame at a time): {sampled / plain_seconds:.2f} "
            f"frames/s, {plain_seconds / args.videos:.1f} s per video ({plain_crops} crops)"
        )
        print(f"ratio: {plain_seconds / seconds:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
