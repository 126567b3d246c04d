"""Self-Blended Images: a fake made from a real face by blending a transformed copy of it
into itself, inside a mask that follows the face's five landmarks when they are given.

Example:
    ```python
    from fakezoo.synth.blend import self_blend
    fake, mask = self_blend(image, rng=0, landmarks=face.landmarks)  # a Face of fakezoo.faces
    ```
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["self_blend"]


_SBI_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)

_REACH = 1.6
"""Around a face, the source's shift and blur and the mask's deformation and blurs are sized by
this many face sizes (a face crop's side, for the crops fakezoo makes), at most the image's side.
"""


_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def self_blend(
    image: np.ndarray,
    rng: np.random.Generator | int | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a fake from a real image by blending it with an altered copy of itself.

    Self-Blended Images (Shiohara & Yamasaki, CVPR 2022), written from the paper's description:
    the image is both target and source. The source gets a colour change (RGB shift, hue,
    saturation and value shift, brightness and contrast jitter), a frequency change (Gaussian
    blur or sharpening) and a small random scale and translation. The mask is a convex region,
    elastically deformed, eroded and blurred with random Gaussian kernels, then multiplied by a
    blend ratio drawn from {0.25, 0.5, 0.75, 1, 1, 1}. The result is `mask * source + (1 - mask)
    * target`: pixels where the mask is 0 are exactly the input's.

    With `landmarks` the region follows the face, as the paper's landmark hull does: the convex
    hull of a face outline extrapolated from the five points (the eyes raised to the forehead,
    the mouth corners lowered to the chin, both widened to the cheeks, sized by the distance
    between the eyes and from the eyes to the mouth, each point jittered), and the source's
    scale, shift and blur, and the mask's deformation and blurs, are sized by the face, not the
    image. Without them (or with a non-finite point, the mark of a face nobody located, or a
    face wholly outside the image) the region is the convex hull of random points around the
    centre, where a face crop has its face.

    Args:
        image: `(H, W, 3)` uint8 RGB image, at least 8x8.
        rng: A NumPy generator, a seed, or `None` for fresh entropy. The same seed, image and
            landmarks give the same fake.
        landmarks: `None`, or a `(5, 2)` array of `(x, y)` pixel coordinates in `image` (pixel
            centres at integers): left eye, right eye, nose tip, left and right mouth corner,
            MTCNN's order (as [`Face.landmarks`][fakezoo.faces.finder.Face]). A landmarks file
            stores fractions: multiply by the width and height and subtract 0.5 (see
            [`read_landmarks`][fakezoo.faces.landmarks.read_landmarks]).

    Returns:
        `(fake, mask)`: the `(H, W, 3)` uint8 blended image and the `(H, W)` float32 blend mask
        in [0, 1].

    Raises:
        ValueError: the image is not `(H, W, 3)` uint8 of at least 8x8, or `landmarks` is not
            five `(x, y)` points.

    Example:
        ```python
        fake, mask = self_blend(decode_image("real.jpg", 256), rng=0)
        points = [[90, 110], [166, 110], [128, 150], [98, 190], [158, 190]]
        fake, mask = self_blend(decode_image("real.jpg", 256), rng=0, landmarks=points)
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
    face = _face_geometry(landmarks, height, width)
    generator = np.random.default_rng(rng)
    source = _sbi_source(img, generator, face)
    mask = _sbi_mask(height, width, generator, face)
    mask *= np.float32(generator.choice(_SBI_BLEND_RATIOS))
    target = img.astype(np.float32)
    blended = target + mask[..., None] * (source - target)
    fake = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return fake, mask


@dataclass(frozen=True)
class _Face:
    """Where the face is: its five points, the eye centre, the unit vectors across the eyes
    (`across`) and down the face (`down`), the inter-ocular (`eyes`) and eye-to-mouth (`mouth`)
    distances, and the face's size: all in pixels, centres at integers."""

    points: np.ndarray
    eye_centre: np.ndarray
    across: np.ndarray
    down: np.ndarray
    eyes: float
    mouth: float
    size: float

    @property
    def centre(self) -> np.ndarray:
        """Half way between the eyes and the mouth, `(x, y)`."""
        return self.eye_centre + 0.5 * self.mouth * self.down


def _face_geometry(landmarks: Any, height: int, width: int) -> _Face | None:
    """The face frame of valid landmarks; `None` for none, a non-finite point, or a face whose
    box lies wholly outside the image. A wrong shape is a ValueError."""
    if landmarks is None:
        return None
    try:
        points = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "self_blend: landmarks must be a (5, 2) array of (x, y) pixel coordinates "
            "(left eye, right eye, nose, left and right mouth corner), or None"
        ) from None
    if points.shape != (5, 2):
        raise ValueError(
            f"self_blend: landmarks must be a (5, 2) array of (x, y) pixel coordinates "
            f"(left eye, right eye, nose, left and right mouth corner), got shape {points.shape}"
        )
    if not np.isfinite(points).all():
        return None
    left_eye, right_eye, _, left_mouth, right_mouth = points
    eye_centre, mouth_centre = (left_eye + right_eye) / 2, (left_mouth + right_mouth) / 2
    line = right_eye - left_eye
    eyes = float(np.hypot(*line))
    across = line / eyes if eyes > 1e-6 else np.array([1.0, 0.0])
    down = np.array([-across[1], across[0]])  # across turned a quarter
    mouth = float(np.dot(mouth_centre - eye_centre, down))
    if mouth < 0:  # towards the chin: left and right swapped (a mirrored image's points)
        down, mouth = -down, -mouth
    scale = max(eyes, abs(mouth), 1.0)
    eyes, mouth = max(eyes, 0.5 * scale), max(mouth, 0.5 * scale)  # profiles, odd points
    face = _Face(points, eye_centre, across, down, eyes, mouth, 2.4 * max(eyes, mouth))
    lo, hi = points.min(axis=0) - face.size, points.max(axis=0) + face.size
    if hi[0] < 0 or hi[1] < 0 or lo[0] > width - 1 or lo[1] > height - 1:
        return None
    return face


def _sbi_source(img: np.ndarray, rng: np.random.Generator, face: _Face | None) -> np.ndarray:
    """The altered copy: colour, frequency and geometry changes. Returns float32 in [0, 255].

    Without a face the geometry and blur are sized by the image, else by the face."""
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
    reach = max(height, width) if face is None else min(height, width, _REACH * face.size)
    scale_px = reach / 256.0
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
    if face is None:
        shift_y, shift_x = rng.uniform(-0.03, 0.03, 2) * (height, width)
        return _scale_translate(np.asarray(pil, dtype=np.float32), scale, shift_y, shift_x)
    shift_y, shift_x = rng.uniform(-0.03, 0.03, 2) * reach
    centre_x, centre_y = face.centre
    return _scale_translate(
        np.asarray(pil, dtype=np.float32), scale, shift_y, shift_x, (centre_y, centre_x)
    )


def _scale_translate(
    x: np.ndarray,
    scale: float,
    shift_y: float,
    shift_x: float,
    centre: tuple[float, float] | None = None,
) -> np.ndarray:
    """Scale about `centre` `(y, x)` (default: the image's) and translate, bilinear, with edge
    pixels repeated outside."""

    def taps(n: int, shift: float, at: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        middle = (n - 1) / 2.0 if at is None else float(at)
        coords = np.clip((np.arange(n) - middle - shift) / scale + middle, 0, n - 1)
        lo = np.floor(coords).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, (coords - lo).astype(np.float32)

    at_y, at_x = (None, None) if centre is None else centre
    lo, hi, w = taps(x.shape[0], shift_y, at_y)
    x = x[lo] * (1 - w)[:, None, None] + x[hi] * w[:, None, None]
    lo, hi, w = taps(x.shape[1], shift_x, at_x)
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


def _face_outline(face: _Face, rng: np.random.Generator) -> np.ndarray:
    """`(15, 2)` points whose convex hull is the face, extrapolated from its five landmarks:
    the forehead above the eyes (from the brows to the hairline), the temples beyond the eyes,
    the cheeks beyond the mouth corners, the jaw and the chin below them; each point jittered.
    """
    left_eye, right_eye, _, left_mouth, right_mouth = face.points
    across, down = face.across, face.down
    forehead = rng.uniform(0.35, 1.0) * face.mouth
    chin = rng.uniform(0.55, 0.9) * face.mouth
    temple = rng.uniform(0.35, 0.6) * face.eyes
    cheek = rng.uniform(0.3, 0.5) * face.eyes
    outline = np.vstack(
        [
            face.points,
            left_eye - temple * across,
            right_eye + temple * across,
            left_eye - 0.8 * temple * across - 0.8 * forehead * down,
            right_eye + 0.8 * temple * across - 0.8 * forehead * down,
            face.eye_centre - forehead * down,
            left_mouth - cheek * across,
            right_mouth + cheek * across,
            left_mouth - 0.4 * cheek * across + 0.65 * chin * down,
            right_mouth + 0.4 * cheek * across + 0.65 * chin * down,
            (left_mouth + right_mouth) / 2 + chin * down,
        ]
    )
    return outline + rng.normal(0.0, 0.02 * (face.eyes + face.mouth), outline.shape)


def _sbi_mask(
    height: int, width: int, rng: np.random.Generator, face: _Face | None = None
) -> np.ndarray:
    """Soft blend mask in [0, 1]: a deformed, eroded, blurred convex region near the centre,
    or around the face when there is one.

    The mask is smooth, so it is built at most 128 pixels a side and resized bilinearly; around
    a face, in a window of the face and room for the deformation and blurs only.
    """
    from scipy import ndimage

    x0, y0, x1, y1 = 0, 0, width, height
    if face is not None:
        outline = _face_outline(face, rng)
        reach = min(height, width, _REACH * face.size)  # what the deformation and blurs scale by
        room = 0.4 * reach
        low, high = outline.min(axis=0) - room, outline.max(axis=0) + room
        x0, y0 = max(0, math.floor(low[0])), max(0, math.floor(low[1]))
        x1, y1 = min(width, math.ceil(high[0]) + 1), min(height, math.ceil(high[1]) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:  # the jittered face left the image: the centre instead
            return _sbi_mask(height, width, rng)
    region_w, region_h = x1 - x0, y1 - y0
    factor = max(1, math.ceil(max(region_h, region_w) / 128))
    h, w = math.ceil(region_h / factor), math.ceil(region_w / factor)
    if face is None:
        side = min(h, w)
        cy = h * (0.5 + rng.uniform(-0.06, 0.06))
        cx = w * (0.5 + rng.uniform(-0.06, 0.06))
        ry = h * rng.uniform(0.2, 0.32)
        rx = w * rng.uniform(0.16, 0.27)
        n_points = int(rng.integers(8, 17))
        angle = rng.uniform(0.0, 2.0 * math.pi, n_points)
        radius = rng.uniform(0.7, 1.0, n_points)
        points = np.stack([cx + rx * radius * np.cos(angle), cy + ry * radius * np.sin(angle)], 1)
    else:
        side = reach * w / region_w
        # pixel centres at integers: to the window's (coarser) grid
        points = (outline + 0.5 - (x0, y0)) * (w / region_w, h / region_h) - 0.5
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
        mask = np.asarray(
            Image.fromarray(mask).resize((region_w, region_h), Image.Resampling.BILINEAR)
        )
    if face is not None:
        whole = np.zeros((height, width), np.float32)
        whole[y0:y1, x0:x1] = mask
        mask = whole
    peak = float(mask.max())
    if peak <= 0.0 and face is not None:
        return _sbi_mask(height, width, rng)
    if peak <= 0.0:  # cannot happen for sane sizes; fall back to a centred ellipse
        yy, xx = np.mgrid[0:height, 0:width]
        inside = ((yy - height / 2) / (height / 4)) ** 2 + ((xx - width / 2) / (width / 4)) ** 2
        mask, peak = (inside <= 1.0).astype(np.float32), 1.0
    mask = (mask / peak).astype(np.float32)
    mask[mask < 1e-3] = 0.0  # the mask's support is exactly the changed region
    return np.clip(mask, 0.0, 1.0)
