"""Self-Blended Images: a fake made from a real face by blending a transformed copy of it
into itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    pass

__all__ = ["self_blend"]


_SBI_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def self_blend(
    image: np.ndarray, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Make a fake from a real image by blending it with an altered copy of itself.

    Self-Blended Images (Shiohara & Yamasaki, CVPR 2022), written from the paper's description:
    the image is both target and source. The source gets a colour change (RGB shift, hue,
    saturation and value shift, brightness and contrast jitter), a frequency change (Gaussian
    blur or sharpening) and a small random scale and translation. The mask is the convex hull
    of random points around the centre (where a face usually is), elastically deformed, eroded
    and blurred with random Gaussian kernels, then multiplied by a blend ratio drawn from
    {0.25, 0.5, 0.75, 1, 1, 1}. The result is `mask * source + (1 - mask) * target`: pixels
    where the mask is 0 are exactly the input's.

    Args:
        image: `(H, W, 3)` uint8 RGB image, at least 8x8.
        rng: A NumPy generator, a seed, or `None` for fresh entropy.

    Returns:
        `(fake, mask)`: the `(H, W, 3)` uint8 blended image and the `(H, W)` float32 blend mask
        in [0, 1].

    Example:
        ```python
        fake, mask = self_blend(decode_image("real.jpg", 256), rng=0)
        ```
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"self_blend expects an (H, W, 3) uint8 RGB image, got shape {img.shape} "
            f"and dtype {img.dtype}"
        )
    height, width = img.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"self_blend needs an image of at least 8x8 pixels, got {width}x{height}")
    generator = np.random.default_rng(rng)
    source = _sbi_source(img, generator)
    mask = _sbi_mask(height, width, generator)
    mask *= np.float32(generator.choice(_SBI_BLEND_RATIOS))
    target = img.astype(np.float32)
    blended = target + mask[..., None] * (source - target)
    fake = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return fake, mask


def _sbi_source(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The altered copy: colour, frequency and geometry changes. Returns float32 in [0, 255]."""
    height, width = img.shape[:2]
    hue = rng.uniform(-0.2, 0.2)
    saturation = rng.uniform(0.75, 1.25)
    value = rng.uniform(0.9, 1.1)
    rotate = np.array(
        [
            [value, 0.0, 0.0],
            [0.0, saturation * math.cos(hue), -saturation * math.sin(hue)],
            [0.0, saturation * math.sin(hue), saturation * math.cos(hue)],
        ]
    )
    colour = (_YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ).astype(np.float32)
    x = img.astype(np.float32) / 255.0
    x = x @ colour.T + rng.uniform(-0.06, 0.06, 3).astype(np.float32)  # hue/sat/value, RGB shift
    contrast = np.float32(rng.uniform(0.85, 1.15))
    brightness = np.float32(rng.uniform(-0.06, 0.06))
    x = (x - 0.5) * contrast + 0.5 + brightness
    pil = Image.fromarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))
    scale_px = max(height, width) / 256.0
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5) * scale_px))
    else:
        pil = pil.filter(
            ImageFilter.UnsharpMask(
                radius=rng.uniform(1.0, 2.0) * scale_px,
                percent=int(rng.integers(60, 160)),
                threshold=0,
            )
        )
    scale = rng.uniform(0.95, 1.05)
    shift_y, shift_x = rng.uniform(-0.03, 0.03, 2) * (height, width)
    return _scale_translate(np.asarray(pil, dtype=np.float32), scale, shift_y, shift_x)


def _scale_translate(x: np.ndarray, scale: float, shift_y: float, shift_x: float) -> np.ndarray:
    """Scale about the centre and translate, bilinear, with edge pixels repeated outside."""

    def taps(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centre = (n - 1) / 2.0
        coords = np.clip((np.arange(n) - centre - shift) / scale + centre, 0, n - 1)
        lo = np.floor(coords).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, (coords - lo).astype(np.float32)

    lo, hi, w = taps(x.shape[0], shift_y)
    x = x[lo] * (1 - w)[:, None, None] + x[hi] * w[:, None, None]
    lo, hi, w = taps(x.shape[1], shift_x)
    return x[:, lo] * (1 - w)[None, :, None] + x[:, hi] * w[None, :, None]


def _convex_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Andrew's monotone chain; returns the hull's corners counter-clockwise."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _sbi_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Soft blend mask in [0, 1]: a deformed, eroded, blurred convex region near the centre.

    The mask is smooth, so it is built at most 128 pixels a side and resized bilinearly.
    """
    from scipy import ndimage

    factor = max(1, math.ceil(max(height, width) / 128))
    h, w = math.ceil(height / factor), math.ceil(width / factor)
    side = min(h, w)
    cy = h * (0.5 + rng.uniform(-0.06, 0.06))
    cx = w * (0.5 + rng.uniform(-0.06, 0.06))
    ry = h * rng.uniform(0.2, 0.32)
    rx = w * rng.uniform(0.16, 0.27)
    n_points = int(rng.integers(8, 17))
    angle = rng.uniform(0.0, 2.0 * math.pi, n_points)
    radius = rng.uniform(0.7, 1.0, n_points)
    points = np.stack([cx + rx * radius * np.cos(angle), cy + ry * radius * np.sin(angle)], 1)
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).polygon(_convex_hull(points), fill=255)
    region = np.asarray(canvas, dtype=np.float32) / 255.0

    # elastic deformation: a smooth random displacement field
    amplitude = rng.uniform(0.01, 0.04) * side
    coarse = rng.standard_normal((2, 4, 4)).astype(np.float32)
    shift = [
        np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BICUBIC)) * amplitude
        for c in coarse
    ]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    region = ndimage.map_coordinates(
        region, [yy + shift[0], xx + shift[1]], order=1, mode="constant", cval=0.0
    ).astype(np.float32)

    # erode (blur, keep what is still fully inside), then soften the edge with a second blur
    eroded = ndimage.gaussian_filter(region, max(0.5, rng.uniform(0.01, 0.03) * side))
    eroded = (eroded >= 0.99).astype(np.float32)
    if eroded.any():
        region = eroded
    mask = ndimage.gaussian_filter(region, max(0.5, rng.uniform(0.01, 0.05) * side))
    if factor > 1:
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.BILINEAR))
    peak = float(mask.max())
    if peak <= 0.0:  # cannot happen for sane sizes; fall back to a centred ellipse
        yy, xx = np.mgrid[0:height, 0:width]
        inside = ((yy - height / 2) / (height / 4)) ** 2 + ((xx - width / 2) / (width / 4)) ** 2
        mask, peak = (inside <= 1.0).astype(np.float32), 1.0
    mask = (mask / peak).astype(np.float32)
    mask[mask < 1e-3] = 0.0  # the mask's support is exactly the changed region
    return np.clip(mask, 0.0, 1.0)
