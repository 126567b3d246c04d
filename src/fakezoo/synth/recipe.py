"""Self-Blended Images as a training recipe: real faces in, balanced real/fake batches out.

With ``TrainSettings(fakes="self-blend")`` (``--fakes self-blend``) the user gives real faces
only, and [`self_blended`][fakezoo.synth.recipe.self_blended] turns their decoded images into
[`BlendedImages`][fakezoo.synth.recipe.BlendedImages]: the real images, then fakes made from
them by [`self_blend`][fakezoo.synth.blend.self_blend], the one implementation of the blend.
Each fake is labelled fake and grouped with its real face, so the folds keep a face and its
fakes on one side. Training pairs every real image with one of its fakes in the same batch,
as SBI trains, in one of two modes:

- ``"cached"``: ``blends`` fixed fakes per real face, drawn once (seeded by the seed and the
  image's bytes); epoch ``e`` pairs each face with its fake ``e % blends``. The frozen trunk
  still runs once per image, so head-only policies stay cheap on a CPU.
- ``"online"``: a fresh fake every epoch (the paper's recipe), with the whole model run on
  every step.

Validation, in both modes, scores each held-out real face and its first fixed fake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .._progress import tqdm_disable
from ..data.cache import DecodedImages
from ..data.dataset import Dataset
from ..errors import DatasetError
from .blend import self_blend

__all__ = ["BlendedImages", "check_real_only", "self_blended"]

BLEND_VERSION = 1
"""Raised when the fakes that the same seed and images give change."""


@dataclass
class BlendedImages(DecodedImages):
    """Real images and the fakes self-blended from them, with which fake belongs to which face.

    The rows are the ``n_real`` real images (label 0), then their fixed fakes (label 1):
    the fake ``j`` of real row ``i`` is row ``partners[i, j]``. A fake's name is its face's
    with ``#self-blend-<j>`` appended, and its SHA-256 is that of its pixels.

    Attributes:
        partners: ``(n_rows, blends)`` int64: for a real row, the rows of its fixed fakes;
            ``-1`` on fake rows.
        online: draw a fresh fake of each face every epoch instead of cycling the fixed ones.
        seed: the seed of the fakes.
        landmarks: ``(n_rows, 5, 2)`` pixel coordinates of each real row's five landmarks
            (NaN where unknown), or ``None``.

    Example:
        ```python
        import fakezoo
        from fakezoo.data import decode_dataset
        from fakezoo.synth.recipe import self_blended
        real = fakezoo.load_dataset("faces/")  # a folder with real/ only
        blended = self_blended(decode_dataset(real, 64), blends=2, seed=0)
        blended.labels.tolist().count(1) == 2 * blended.n_real  # True
        ```
    """

    partners: np.ndarray
    online: bool
    seed: int
    landmarks: np.ndarray | None

    @property
    def n_real(self) -> int:
        """How many real faces the fakes were made from."""
        return int((self.partners[:, 0] >= 0).sum())

    @property
    def recipe(self) -> str:
        """The recipe in words, as runs record it: ``"self-blend (cached, 4 per face)"``."""
        if self.online:
            return f"self-blend (online, v{BLEND_VERSION})"
        return f"self-blend (cached, {self.partners.shape[1]} per face, v{BLEND_VERSION})"

    def real_rows(self, rows: np.ndarray) -> np.ndarray:
        """The real rows among ``rows``, in their order."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows[self.partners[rows, 0] >= 0]

    def validation_rows(self, rows: np.ndarray) -> np.ndarray:
        """What a fold scores of ``rows``: each real face and its first fixed fake, sorted."""
        real = self.real_rows(rows)
        return np.sort(np.concatenate([real, self.partners[real, 0]]))

    def partner_rows(self, real: np.ndarray, epoch: int) -> np.ndarray:
        """The fixed fake that each real row is paired with in ``epoch`` (cached mode)."""
        return self.partners[np.asarray(real, dtype=np.int64), epoch % self.partners.shape[1]]

    def fresh_fakes(
        self, images: torch.Tensor, real: np.ndarray, epoch: int, fold: int
    ) -> torch.Tensor:
        """New fakes of the real rows ``real`` for ``epoch`` of ``fold`` (online mode): uint8
        ``(len(real), 3, S, S)``, seeded by the seed, fold, epoch and each image's bytes."""
        content = self.dataset.content  # the fakes' dataset always holds every row's SHA-256
        out = []
        for row in np.asarray(real, dtype=np.int64).tolist():
            points = None if self.landmarks is None else self.landmarks[row]
            rng = _rng(self.seed, content[row], 1 + fold, 1 + epoch)
            out.append(_blend(images[row], points, rng))
        return torch.stack(out)


def _blend(
    image: torch.Tensor, points: np.ndarray | None, rng: np.random.Generator
) -> torch.Tensor:
    """One fake of a ``(3, S, S)`` uint8 image, its mask following ``points`` (pixels; NaN or
    ``None``: none)."""
    fake, _ = self_blend(image.permute(1, 2, 0).numpy(), rng, landmarks=points)
    return torch.from_numpy(np.ascontiguousarray(fake.transpose(2, 0, 1)))


def _rng(seed: int, sha256: str, *more: int) -> np.random.Generator:
    """A generator seeded by ``seed``, an image's bytes (its SHA-256) and ``more``."""
    return np.random.default_rng([seed, int(sha256[:16], 16), *more])


def check_real_only(dataset: Dataset, n_splits: int) -> None:
    """Refuse a dataset for self-blending: fake images in it, or too few real ones.

    Example:
        ```python
        check_real_only(fakezoo.load_dataset("faces/"), 3)  # silent for real/ with 3+ images
        ```
    """
    counts = dataset.class_counts()
    if counts["fake"]:
        raise DatasetError(
            f"fakes='self-blend' makes the fakes from the real images, but {dataset.root} "
            f"has {counts['fake']} fake images: train on the real images alone (a folder with "
            f"real/ only), or use fakes='dataset' (--fakes dataset) to train on its fakes"
        )
    if counts["real"] < n_splits:
        raise DatasetError(
            f"{dataset.root} has {counts['real']} real images, fewer than n_splits={n_splits}; "
            f"add real images or lower n_splits"
        )


def self_blended(
    decoded: DecodedImages,
    *,
    blends: int = 4,
    seed: int = 0,
    online: bool = False,
    landmarks: np.ndarray | None = None,
    progress: bool | None = None,
) -> BlendedImages:
    """The real images of ``decoded`` and ``blends`` fixed self-blended fakes of each.

    Args:
        decoded: decoded real images (no fakes; see
            [`check_real_only`][fakezoo.synth.recipe.check_real_only]).
        blends: fixed fakes per face (``online`` mode makes one, for validation).
        seed: the random seed; the fake ``j`` of an image depends on the seed, ``j`` and the
            image's bytes only, not on the other images or their order.
        online: training draws fresh fakes every epoch (see
            [`BlendedImages.fresh_fakes`][fakezoo.synth.recipe.BlendedImages.fresh_fakes]).
        landmarks: ``(N, 5, 2)`` pixel coordinates of each image's five landmarks at its
            decoded size (NaN rows where unknown; a landmarks file's fractions become pixels
            with ``fakezoo.faces.landmarks.landmarks_to_pixels``); without them the masks lie
            around the image's centre.
        progress: a progress bar; ``None`` shows it on a terminal only.

    Returns:
        [`BlendedImages`][fakezoo.synth.recipe.BlendedImages].

    Example:
        ```python
        blended = self_blended(decoded, blends=2, seed=0)
        len(blended) == 3 * len(decoded)  # True
        ```
    """
    if isinstance(blends, bool) or not isinstance(blends, int) or blends < 1:
        raise ValueError(f"blends={blends!r}: use an integer of at least 1.")
    blends = 1 if online else blends
    check_real_only(decoded.dataset, 2)
    n, size = len(decoded), decoded.image_size
    real = decoded.images
    if not isinstance(real, torch.Tensor):  # out of core: the fakes are made in memory anyway
        real = real[np.arange(n)]
    points = None
    if landmarks is not None:
        points = np.asarray(landmarks, dtype=np.float64)
        if points.shape != (n, 5, 2):
            raise ValueError(f"landmarks must have shape ({n}, 5, 2), got {points.shape}")
        points = np.concatenate([points, np.full((n * blends, 5, 2), np.nan)])
    content = decoded.dataset.sha256()
    fakes = torch.empty((n * blends, 3, size, size), dtype=torch.uint8)
    for i in tqdm(range(n), desc="self-blending", unit="face", disable=tqdm_disable(progress)):
        face = None if points is None else points[i]
        for j in range(blends):
            fakes[i * blends + j] = _blend(real[i], face, _rng(seed, content[i], 0, j))
    partners = np.full((n * (1 + blends), blends), -1, dtype=np.int64)
    partners[:n] = n + np.arange(n)[:, None] * blends + np.arange(blends)[None, :]
    return BlendedImages(
        images=torch.cat([real, fakes]),
        labels=torch.cat([decoded.labels, torch.ones(n * blends, dtype=torch.int64)]),
        dataset=_with_fakes(decoded.dataset, fakes, blends),
        image_size=size,
        n_decoded=decoded.n_decoded,
        partners=partners,
        online=online,
        seed=seed,
        landmarks=points,
    )


def _with_fakes(real: Dataset, fakes: torch.Tensor, blends: int) -> Dataset:
    """``real`` and one entry per fake: named after its face, grouped with it, hashed by its
    pixels."""
    n = len(real)
    groups = np.asarray(real.relpaths(), dtype=object) if real.groups is None else real.groups
    source = np.repeat(np.arange(n), blends)
    names = [
        real.paths[i].with_name(f"{real.paths[i].name}#self-blend-{j}")
        for i in range(n)
        for j in range(blends)
    ]
    content = [hashlib.sha256(f.numpy().tobytes()).hexdigest() for f in fakes]
    return Dataset(
        root=real.root,
        paths=[*real.paths, *names],
        labels=np.concatenate([real.labels, np.ones(n * blends, dtype=np.int64)]),
        groups=np.concatenate([np.asarray(groups, dtype=object), groups[source]]),
        splits=None if real.splits is None else [*real.splits, *(real.splits[i] for i in source)],
        skipped=list(real.skipped),
        content=[*real.sha256(), *content],
    )
