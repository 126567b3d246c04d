"""The field's benchmark datasets, read from their layouts as distributed.

Each reader returns a [`VideoIndex`][fakezoo.datasets.index.VideoIndex]: every video with its
official split, its label, the manipulation method of a fake, and its id, which is also its
group (no video's frames on both sides of a split or fold). What a reader cannot use (a
missing list, a listed video that is absent, an empty file) is one problem line; it goes on.

- [`read_ffpp`][fakezoo.datasets.ffpp.read_ffpp]: FaceForensics++ (``c23``/``c40``/``raw``,
  methods selectable) with the official ``train/val/test.json`` pairs;
- [`read_celebdf`][fakezoo.datasets.celebdf.read_celebdf]: Celeb-DF v2 and its
  ``List_of_testing_videos.txt``;
- [`read_dfdc`][fakezoo.datasets.dfdc.read_dfdc] and
  [`read_dfdcp`][fakezoo.datasets.dfdc.read_dfdcp]: DFDC's ``metadata.json`` /
  ``labels.csv`` and DFDCP's ``dataset.json``;
- [`read_deepfakebench`][fakezoo.datasets.deepfakebench.read_deepfakebench]: DeepfakeBench's
  ``dataset_json/<name>.json`` with its face crops, as they are;
- [`read_dataset`][fakezoo.datasets.registry.read_dataset]: any of them by name, e.g.
  ``"ff++:c40"``.

Reading lists files and parses the lists; no video is opened (``fakezoo crop`` decodes them,
one at a time, and reports any it cannot decode).

Example:
    ```python
    # needs: Celeb-DF v2 as distributed
    from fakezoo.datasets import read_dataset
    index = read_dataset("celebdf-v2", "/data/Celeb-DF-v2")
    print(index.summary())
    test = index.to_dataset(["test"])  # a fakezoo Dataset of the 518 test videos
    ```
"""

from __future__ import annotations

from .celebdf import read_celebdf
from .deepfakebench import read_deepfakebench
from .dfdc import read_dfdc, read_dfdcp
from .ffpp import COMPRESSIONS, FF_METHODS, METHODS, read_ffpp
from .index import SPLITS, Problem, Video, VideoIndex
from .registry import DATASETS, DatasetSpec, parse_spec, read_dataset

__all__ = [
    "COMPRESSIONS",
    "DATASETS",
    "FF_METHODS",
    "METHODS",
    "SPLITS",
    "DatasetSpec",
    "Problem",
    "Video",
    "VideoIndex",
    "parse_spec",
    "read_celebdf",
    "read_dataset",
    "read_deepfakebench",
    "read_dfdc",
    "read_dfdcp",
    "read_ffpp",
]
