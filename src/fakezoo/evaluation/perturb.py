"""Seeded image perturbations for robustness tests: JPEG, blur, downscaling and noise.

A perturbation acts on a decoded image at its own resolution, *before* it is resized to the
model's input, the way a re-uploaded, re-compressed or blurred face reaches a detector. Specs are
strings, as on the command line::

    jpeg:90,75,50      JPEG re-encoding at quality 90, 75 and 50 (Pillow, 4:2:0 subsampling)
    blur:1,2           Gaussian blur with sigma 1 and 2 pixels (Pillow's GaussianBlur)
    resize:0.5         downscale by 0.5 (bilinear); the model's own resize then scales it back
    noise:0.02         additive Gaussian noise, std 0.02 of the full range (0.02 * 255)

Every perturbation is deterministic given ``(seed, index)``: noise draws from a generator seeded
with the evaluation seed, the image's position in the dataset and the perturbation itself, so a
rerun (or another run evaluated on the same data) sees exactly the same perturbed pixels.
Nothing here touches torch.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ..errors import PerturbationError

__all__ = ["KINDS", "Perturbation", "parse_perturbations"]

KINDS: dict[str, str] = {
    "jpeg": "JPEG quality, an integer in 1..95 (lower is stronger)",
    "blur": "Gaussian blur sigma in pixels, > 0 (higher is stronger)",
    "resize": "downscale factor in (0, 1) (lower is stronger)",
    "noise": "Gaussian noise std as a fraction of 255, in (0, 1] (higher is stronger)",
}
"""Perturbation kinds, each with what its strength means and the values it accepts."""


@dataclass(frozen=True)
class Perturbation:
    """One perturbation at one strength, e.g. ``Perturbation("jpeg", 50)``.

    Example:
        ```python
        import numpy as np
        from fakezoo.evaluation import Perturbation

        img = np.full((64, 64, 3), 128, np.uint8)
        out = Perturbation("noise", 0.02)(img, seed=0, index=3)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert (out == Perturbation("noise", 0.02)(img, seed=0, index=3)).all()
        ```
    """

    kind: str
    strength: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PerturbationError(
                f"unknown perturbation {self.kind!r}; use one of {', '.join(KINDS)} ({_FORMS})"
            )
        s = float(self.strength)
        ok = {
            "jpeg": 1 <= s <= 95 and s == int(s),
            "blur": s > 0,
            "resize": 0 < s < 1,
            "noise": 0 < s <= 1,
        }[self.kind]
        if not ok or not np.isfinite(s):
            raise PerturbationError(
                f"{self.kind}:{self.strength:g} is out of range: "
                f"{self.kind} takes {KINDS[self.kind]}"
            )
        object.__setattr__(self, "strength", int(s) if self.kind == "jpeg" else s)

    @property
    def name(self) -> str:
        """The spec form, e.g. ``"jpeg:50"``; used as the condition's name in reports."""
        return f"{self.kind}:{self.strength:g}"

    def __str__(self) -> str:
        return self.name

    def __call__(self, image: np.ndarray, *, seed: int = 0, index: int = 0) -> np.ndarray:
        """Perturb one ``(H, W, 3)`` uint8 image; returns a new uint8 array (any size for
        ``resize``)."""
        if self.kind == "noise":
            rng = np.random.default_rng([int(seed), int(index), zlib.crc32(self.name.encode())])
            noisy = image.astype(np.float32) + rng.normal(
                0.0, self.strength * 255.0, image.shape
            ).astype(np.float32)
            return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        img = Image.fromarray(image)
        if self.kind == "jpeg":
            buffer = io.BytesIO()
            img.save(buffer, format="JPEG", quality=int(self.strength))
            buffer.seek(0)
            with Image.open(buffer) as decoded:
                return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()
        if self.kind == "blur":
            return np.asarray(img.filter(ImageFilter.GaussianBlur(self.strength)), np.uint8)
        width, height = img.size  # resize
        size = (max(1, round(width * self.strength)), max(1, round(height * self.strength)))
        return np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


_FORMS = "e.g. jpeg:90,75,50 blur:1,2 resize:0.5 noise:0.02"


def parse_perturbations(
    specs: str | Perturbation | Iterable[str | Perturbation] | None,
) -> list[Perturbation]:
    """Turn specs such as ``"jpeg:90,75 blur:1"`` (or a list of them) into perturbations.

    Args:
        specs: ``None``, one spec string (space-separated groups), a
            [`Perturbation`][fakezoo.evaluation.perturb.Perturbation], or an iterable of either. A
            group is ``kind:value[,value...]``.

    Returns:
        The perturbations in the order given, duplicates removed.

    Raises:
        PerturbationError: An unknown kind, a missing or non-numeric value, or a value out of
            its range; the message shows the accepted forms.

    Example:
        ```python
        from fakezoo.evaluation import parse_perturbations

        ps = parse_perturbations("jpeg:90,50 blur:1")
        assert [p.name for p in ps] == ["jpeg:90", "jpeg:50", "blur:1"]
        ```
    """
    if specs is None:
        return []
    items: Sequence = [specs] if isinstance(specs, str | Perturbation) else list(specs)
    out: list[Perturbation] = []
    for item in items:
        if isinstance(item, Perturbation):
            found = [item]
        elif isinstance(item, str):
            found = [p for group in item.split() for p in _parse_group(group)]
        else:
            raise PerturbationError(
                f"a perturbation is a string like 'jpeg:50' or a "
                f"Perturbation, got {type(item).__name__} ({_FORMS})"
            )
        out.extend(p for p in found if p not in out)
    return out


def _parse_group(group: str) -> list[Perturbation]:
    kind, sep, values = group.partition(":")
    kind = kind.strip().lower()
    if not sep or not values.strip():
        raise PerturbationError(
            f"perturbation {group!r} has no strength: write kind:value[,value...] ({_FORMS})"
        )
    out = []
    for raw in values.split(","):
        try:
            value = float(raw)
        except ValueError:
            raise PerturbationError(
                f"perturbation {group!r}: {raw!r} is not a number ({_FORMS})"
            ) from None
        out.append(Perturbation(kind, value))
    return out
