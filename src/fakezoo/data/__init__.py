"""Find labelled face images, decode them once and split them into folds.

This subpackage is the upstream end of fakezoo: it imports nothing else from the package but
its foundation modules (errors, atomic files, progress bars), and every other module consumes
what it returns. One concept per module: `discovery` (folders and CSV files), `dataset` (the
[`Dataset`][fakezoo.data.dataset.Dataset]), `decode` (one image), `cache` (a whole dataset, in
parallel, cached on disk), `outofcore` (arrays past the memory budget, memory-mapped in
fakezoo's cache) and `folds`. The demo faces and Self-Blended Images are in
[`fakezoo.synth`][fakezoo.synth]; errors are in [`fakezoo.errors`][fakezoo.errors].

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

Example:
    ```python
    from fakezoo.data import decode_dataset, load_dataset, make_folds

    ds = load_dataset("faces/")  # faces/real/*.jpg and faces/fake/*.jpg
    decoded = decode_dataset(ds, 224, cache_dir="~/.cache/fakezoo")
    folds = make_folds(decoded.dataset.labels, n_splits=3, seed=0)
    ```
"""

from .cache import DecodedImages, decode_dataset
from .dataset import IMAGE_EXTENSIONS, LABEL_NAMES, Dataset, SkippedFile
from .decode import DECODER_VERSION, DEFAULT_MAX_PIXELS, decode_image, image_to_array
from .discovery import load_dataset
from .folds import load_folds, make_folds, save_folds
from .outofcore import MappedArray

__all__ = [
    "DECODER_VERSION",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LABEL_NAMES",
    "Dataset",
    "DecodedImages",
    "MappedArray",
    "SkippedFile",
    "decode_dataset",
    "decode_image",
    "image_to_array",
    "load_dataset",
    "load_folds",
    "make_folds",
    "save_folds",
]
