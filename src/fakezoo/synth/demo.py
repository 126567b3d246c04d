"""A small procedural real/fake face set for demos and tests; the fakes are made with
[`self_blend`][fakezoo.synth.blend.self_blend], their blended region rendered at a lower resolution
as a face-swap pastes its generated face.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image, ImageFilter
from tqdm.auto import tqdm

from .._io import atomic_write
from .._progress import tqdm_disable
from .._version import __version__
from ..data.cache import decode_workers, map_chunks
from ..data.dataset import LABEL_NAMES
from ..data.decode import check_image_size
from .blend import self_blend

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    pass

__all__ = ["make_demo_dataset"]


logger = logging.getLogger(__name__)


_DEMO_POOL_MIN_IMAGES = 32


_DEMO_VERSION = 2  # 2: the blended region of a fake is upscaled from 1/2-1/4 size
_DEMO_FILE_RE = re.compile(r"^(real|fake)_\d+\.jpg$")


@lru_cache(maxsize=4)
def _demo_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    return np.broadcast_to(coords[None, :], (size, size)), np.broadcast_to(
        coords[:, None], (size, size)
    )


@lru_cache(maxsize=4)
def _pink_filter(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    freq = np.sqrt(fx * fx + fy * fy)
    freq[0, 0] = 1.0
    gain = 1.0 / freq
    gain[0, 0] = 0.0
    return gain


def _pink_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean, unit-variance 1/f noise (natural-image-like texture)."""
    white = rng.standard_normal((size, size))
    noise = np.fft.irfft2(np.fft.rfft2(white) * _pink_filter(size), s=(size, size))
    return (noise / (noise.std() + 1e-8)).astype(np.float32)


class _Shape(NamedTuple):
    """A soft ellipse: `coverage` in [0, 1] and normalised coordinates `u, v` inside `box`."""

    box: tuple[slice, slice]
    coverage: np.ndarray
    u: np.ndarray
    v: np.ndarray


def _ellipse(
    cx: float, cy: float, ax: float, ay: float, size: int, angle: float = 0.0, soft: float = 0.1
) -> _Shape:
    """Soft ellipse on the [-1, 1] grid, computed only inside its bounding box."""
    reach = max(ax, ay)

    def span(centre: float) -> slice:
        lo = max(0, math.floor((centre - reach + 1.0) / 2.0 * size - 1.0))
        hi = min(size, math.ceil((centre + reach + 1.0) / 2.0 * size + 1.0))
        return slice(lo, max(lo, hi))

    box = (span(cy), span(cx))
    x, y = _demo_grid(size)
    dx, dy = x[box] - np.float32(cx), y[box] - np.float32(cy)
    if angle:
        c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        dx, dy = dx * c + dy * s, dy * c - dx * s
    u = dx / np.float32(ax)
    v = dy / np.float32(ay)
    t = np.clip((1.0 - np.sqrt(u * u + v * v)) / np.float32(soft), 0.0, 1.0)
    return _Shape(box, t * t * (3.0 - 2.0 * t), u, v)


def _paint(canvas: np.ndarray, shape: _Shape, colour: Any, alpha: float = 1.0) -> None:
    region = canvas[shape.box]  # a view: painted in place
    weight = (shape.coverage * np.float32(alpha))[..., None]
    region += weight * (np.asarray(colour, dtype=np.float32) - region)


def _procedural_face(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like synthetic portrait: lit background, head, hair, eyes, mouth, texture, noise."""
    x, y = _demo_grid(size)
    f32 = np.float32

    def colour(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, 3).astype(f32)

    # background: two-colour gradient plus out-of-focus blobs
    c0, c1 = colour(0.1, 0.9), colour(0.1, 0.9)
    theta = rng.uniform(0, 2 * math.pi)
    t = (x * f32(math.cos(theta)) + y * f32(math.sin(theta))) * f32(0.5) + f32(0.5)
    img = c0 + (c1 - c0) * t[..., None]
    for _ in range(int(rng.integers(2, 6))):
        (bx, by), (ba, bb) = rng.uniform(-1, 1, 2), rng.uniform(0.15, 0.6, 2)
        blob = _ellipse(bx, by, ba, bb, size, rng.uniform(0, math.pi), rng.uniform(0.3, 0.9))
        _paint(img, blob, colour(0.05, 0.95), alpha=rng.uniform(0.3, 0.8))

    cx, cy = rng.normal(0.0, 0.06), rng.normal(0.02, 0.05)
    fa, fb = rng.uniform(0.30, 0.40), rng.uniform(0.42, 0.52)
    tilt = rng.normal(0.0, 0.08)
    tone = rng.uniform(0.35, 1.0)
    skin = np.clip(np.array([0.93, 0.72, 0.58]) * tone + rng.normal(0, 0.03, 3), 0, 1).astype(f32)
    hair_palette = np.array(
        [
            [0.07, 0.05, 0.04],
            [0.24, 0.14, 0.07],
            [0.45, 0.30, 0.15],
            [0.78, 0.64, 0.38],
            [0.55, 0.55, 0.55],
            [0.50, 0.18, 0.08],
        ]
    )
    hair = np.clip(hair_palette[rng.integers(len(hair_palette))] * rng.uniform(0.8, 1.2), 0, 1)
    light = rng.normal(0, 1, 2)
    lx, ly = light / (np.linalg.norm(light) + 1e-8)

    torso_x, torso_a, torso_b = cx + rng.normal(0, 0.05), *rng.uniform((0.6, 0.3), (0.9, 0.42))
    _paint(img, _ellipse(torso_x, 1.05, torso_a, torso_b, size, soft=0.05), colour(0.05, 0.9))
    _paint(img, _ellipse(cx, cy + fb * 0.9, fa * 0.45, fb * 0.5, size, soft=0.15), skin * 0.8)
    has_hair = rng.random() < 0.85
    if has_hair:
        _paint(img, _ellipse(cx, cy - fb * 0.12, fa * 1.18, fb * 1.08, size, tilt, 0.08), hair)
    face = _ellipse(cx, cy, fa, fb, size, tilt, 0.06)
    shade = 1.0 + f32(0.25) * (face.u * f32(lx) + face.v * f32(ly))
    shade -= f32(0.18) * (face.u * face.u + face.v * face.v)
    _paint(img, face, skin * shade[..., None])
    if has_hair and rng.random() < 0.6:
        fringe_x = cx + rng.normal(0, 0.05)
        fringe = _ellipse(fringe_x, cy - fb * 0.85, fa * 1.02, fb * 0.32, size, tilt, 0.12)
        _paint(img, fringe, hair)

    eye_y = cy - fb * 0.1
    eye_dx = fa * rng.uniform(0.36, 0.46)
    iris = np.array([[0.25, 0.15, 0.08], [0.2, 0.35, 0.55], [0.25, 0.4, 0.25]])[rng.integers(3)]
    gaze = rng.normal(0, 0.01)
    for side in (-1.0, 1.0):
        ex = cx + side * eye_dx
        sclera = np.array([0.92, 0.9, 0.87]) * rng.uniform(0.8, 1.0)
        _paint(img, _ellipse(ex, eye_y, fa * 0.17, fb * 0.065, size, soft=0.3), sclera, 0.9)
        _paint(img, _ellipse(ex + gaze, eye_y, fb * 0.055, fb * 0.055, size, soft=0.3), iris)
        pupil = _ellipse(ex + gaze, eye_y, fb * 0.022, fb * 0.022, size, soft=0.4)
        _paint(img, pupil, (0.02, 0.02, 0.02))
        brow = _ellipse(ex, eye_y - fb * 0.16, fa * 0.2, fb * 0.03, size, side * 0.1, 0.4)
        _paint(img, brow, hair * 0.9, alpha=0.85)
    nose = _ellipse(cx + lx * 0.02, cy + fb * 0.12, fa * 0.09, fb * 0.2, size, soft=0.6)
    _paint(img, nose, skin * f32(0.8), alpha=0.5)
    mouth_a, mouth_b = fa * rng.uniform(0.22, 0.34), fb * rng.uniform(0.04, 0.08)
    mouth = _ellipse(cx, cy + fb * 0.45, mouth_a, mouth_b, size, soft=0.35)
    _paint(img, mouth, skin * np.array([0.85, 0.5, 0.5], dtype=f32), alpha=0.9)

    # texture, illumination fall-off, lens blur and sensor noise
    img *= (1.0 + f32(rng.uniform(0.03, 0.08)) * _pink_noise(rng, size))[..., None]
    lcx, lcy = rng.uniform(-0.5, 0.5, 2)
    falloff = f32(rng.uniform(0.05, 0.2))
    img *= (1.0 - falloff * ((x - f32(lcx)) ** 2 + (y - f32(lcy)) ** 2))[..., None]
    pil = Image.fromarray(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8))
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * size / 256.0))
    sigma = f32(rng.uniform(0.5, 3.0))
    noisy = np.asarray(pil, dtype=np.float32)
    noisy = noisy + sigma * rng.standard_normal((size, size, 3), dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _upscaled_inside(fake: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray:
    """``fake`` with its blended region rendered at ``1 / factor`` of the size and upscaled
    (bilinear), as a face-swap generator's smaller output is pasted into a larger frame.

    The whole region is replaced, whatever the colour blend's ratio (the mask is scaled to a
    peak of 1); where the mask is 0 the pixels stay exactly ``fake``'s.
    """
    peak = float(mask.max())
    if peak <= 0.0:
        return fake
    height, width = fake.shape[:2]
    small = (max(4, round(width / factor)), max(4, round(height / factor)))
    coarse = Image.fromarray(fake).resize(small, Image.Resampling.BILINEAR)
    coarse = np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR), np.float32)
    out = fake + (mask / np.float32(peak))[..., None] * (coarse - fake)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _demo_image(label: int, index: int, seed: int, image_size: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(label, index)))
    base = _procedural_face(rng, image_size)
    if label == 0:
        return base
    fake, mask = self_blend(base, rng)
    return _upscaled_inside(fake, mask, rng.uniform(2.0, 4.0))


def _demo_name(label: int, index: int) -> str:
    return f"{LABEL_NAMES[label]}/{LABEL_NAMES[label]}_{index:05d}.jpg"


def _write_demo_chunk(jobs: list[tuple[int, int]], directory: str, seed: int, size: int) -> int:
    for label, index in jobs:
        target = Path(directory, _demo_name(label, index))
        image = Image.fromarray(_demo_image(label, index, seed, size))
        atomic_write(target, lambda handle, image=image: image.save(handle, "JPEG", quality=95))
    return len(jobs)


def make_demo_dataset(
    directory: str | os.PathLike[str],
    n_per_class: int = 100,
    *,
    seed: int = 0,
    image_size: int = 256,
    num_workers: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Write a small procedural real/fake face dataset (JPEG, quality 95).

    Real images are synthetic portraits with photo-like statistics (lit gradient background,
    soft shaded head, hair, eyes and mouth, 1/f texture, lens blur, sensor noise). Each fake is
    a *different* freshly generated portrait passed through
    [`self_blend`][fakezoo.synth.blend.self_blend], whose blended region is then rendered at
    1/2 to 1/4 of the size and upscaled, as a face-swap pastes a generator's smaller face
    into a larger frame: inside the mask the fake loses the portrait's fine texture and sensor
    noise, which an ImageNet network can see at 96 pixels and up. Files are
    `real/real_00000.jpg ...` and `fake/fake_00000.jpg ...`; every image has its own seed
    derived from `seed`, so the output is byte-identical for a seed whatever `num_workers`. A
    `demo.json` records the parameters: a later call with the same parameters returns at once.

    Args:
        directory: Output folder; it must be new, empty, or an earlier demo set (which is
            replaced when the parameters differ).
        n_per_class: Images per class.
        seed: Master seed.
        image_size: Side of the square images.
        num_workers: Worker processes; default `os.cpu_count()`.
        progress: Show a progress bar; `None` shows one only when stderr is a terminal
            (`$TQDM_DISABLE=1` hides it).

    Returns:
        `directory`, ready for [`load_dataset`][fakezoo.data.discovery.load_dataset].

    Raises:
        FileExistsError: If `directory` holds other files and no `demo.json`.

    Example:
        ```python
        root = make_demo_dataset("demo/", n_per_class=500, seed=0)
        ds = load_dataset(root)  # 500 real + 500 fake, 256x256
        ```
    """
    if isinstance(n_per_class, bool) or int(n_per_class) != n_per_class or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    image_size = check_image_size(image_size)
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 for the demo set, got {image_size}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n_per_class, seed = int(n_per_class), int(seed)
    root = Path(directory).expanduser()
    manifest = root / "demo.json"
    params = {
        "generator": "fakezoo.synth.demo.make_demo_dataset",
        "generator_version": _DEMO_VERSION,
        "n_per_class": n_per_class,
        "seed": seed,
        "image_size": image_size,
    }
    names = [_demo_name(label, i) for label in (0, 1) for i in range(n_per_class)]
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if (
            isinstance(previous, dict)
            and previous.get("complete") is True
            and all(previous.get(k) == v for k, v in params.items())
            and all((root / name).is_file() for name in names)
        ):
            logger.info("reusing the demo dataset in %s", root)
            return root
        _remove_demo_files(root)
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} already holds files and no demo.json; pass a new or empty folder to "
            "make_demo_dataset"
        )
    for label_name in LABEL_NAMES:
        (root / label_name).mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest, {**params, "complete": False})

    start = time.perf_counter()
    jobs = [(label, i) for label in (0, 1) for i in range(n_per_class)]
    workers = decode_workers(num_workers) if len(jobs) >= _DEMO_POOL_MIN_IMAGES else 1
    chunk_size = 8 if workers <= 1 else max(1, min(32, math.ceil(len(jobs) / (workers * 4))))
    chunks = [jobs[i : i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    with tqdm(
        total=len(jobs), desc="demo", unit="img", disable=tqdm_disable(progress), leave=False
    ) as bar:
        args = (str(root), seed, image_size)
        for chunk, _ in map_chunks(_write_demo_chunk, chunks, args, workers):
            bar.update(len(chunk))
    _write_manifest(manifest, {**params, "complete": True, "fakezoo_version": __version__})
    logger.info("wrote %d demo images to %s in %.1fs", len(jobs), root, time.perf_counter() - start)
    return root


def _write_manifest(path: Path, content: dict[str, Any]) -> None:
    text = json.dumps(content, indent=1) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _remove_demo_files(root: Path) -> None:
    for label_name in LABEL_NAMES:
        folder = root / label_name
        if folder.is_dir():
            for entry in folder.iterdir():
                if _DEMO_FILE_RE.match(entry.name) and entry.is_file():
                    entry.unlink()
