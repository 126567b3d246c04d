"""Find labelled face images, decode them once, split them into folds, and make a demo set.

This subpackage is the upstream end of fakezoo: it imports nothing else from the package but
its helpers, and every other module consumes what it returns. One concept per module:
``discovery`` (folders and CSV files), ``dataset`` (the :class:`Dataset`), ``decode`` (one
image), ``cache`` (a whole dataset, in parallel, cached on disk) and ``folds``. The demo faces
and Self-Blended Images are in :mod:`fakezoo.synth`.

* [`load_dataset`][fakezoo.data.discovery.load_dataset] finds images in a `real/` + `fake/` folder
  layout (Kaggle-style split folders included) or reads a CSV file of `path,label[,group]`.
* [`decode_image`][fakezoo.data.decode.decode_image] is *the* image transform used for training and
  for prediction: PIL decode, EXIF rotation, RGB conversion and a bilinear resize (identical to
  torchvision's `Resize((S, S))` on a PIL image).
* [`decode_dataset`][fakezoo.data.cache.decode_dataset] decodes a whole dataset once, in parallel,
  into one uint8 tensor, skipping (never crashing on) broken files, with an optional on-disk cache.
* [`make_folds`][fakezoo.data.folds.make_folds], [`save_folds`][fakezoo.data.folds.save_folds] and
  [`load_folds`][fakezoo.data.folds.load_folds] make and store seeded stratified (group) k-fold
  splits.
* [`make_demo_dataset`][fakezoo.synth.demo.make_demo_dataset] (in :mod:`fakezoo.synth`) writes a
  small procedural real/fake set, where the fakes are made with
  [`self_blend`][fakezoo.synth.blend.self_blend] (Self-Blended Images).

Example:
    ```python
    from fakezoo.data import decode_dataset, load_dataset, make_folds

    ds = load_dataset("faces/")  # faces/real/*.jpg and faces/fake/*.jpg
    decoded = decode_dataset(ds, 224, cache_dir="~/.cache/fakezoo")
    folds = make_folds(decoded.dataset.labels, n_splits=3, seed=0)
    ```
"""

from typing import Any

from ..errors import DatasetError, ImageDecodeError
from .cache import DecodedImages, decode_dataset
from .dataset import IMAGE_EXTENSIONS, LABEL_NAMES, Dataset, SkippedFile
from .decode import DECODER_VERSION, DEFAULT_MAX_PIXELS, decode_image, image_to_array
from .discovery import load_dataset
from .folds import load_folds, make_folds, save_folds

__all__ = [
    "DECODER_VERSION",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LABEL_NAMES",
    "Dataset",
    "DatasetError",
    "DecodedImages",
    "ImageDecodeError",
    "SkippedFile",
    "decode_dataset",
    "decode_image",
    "image_to_array",
    "load_dataset",
    "load_folds",
    "make_demo_dataset",
    "make_folds",
    "save_folds",
    "self_blend",
]

# Names that moved out of fakezoo.data; found here for one more release, with a warning.
_MOVED = {
    "make_demo_dataset": "fakezoo.synth.demo",
    "self_blend": "fakezoo.synth.blend",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'fakezoo.data' has no attribute '{name}'")
    import importlib
    import warnings

    warnings.warn(
        f"fakezoo.data.{name} moved to {_MOVED[name]}.{name}; the old name works for "
        f"one more release.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(_MOVED[name]), name)
