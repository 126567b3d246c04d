"""Faces in the wild: find faces in photos and video frames and crop them like the training data.

The study's models were trained on tight square face crops. :mod:`fakezoo.faces` turns whole
photos and videos into such crops:

- :func:`find_faces` finds faces (MTCNN from ``facenet-pytorch``, whose weights ship in its wheel,
  so nothing is downloaded); a :class:`Face` has a box, a score and five landmarks.
- :class:`CropPolicy` (a box with a margin) and :class:`AlignedCropPolicy` (five landmarks
  onto a template, as DeepfakeBench) with :func:`crop` cut one face out; ``POLICIES`` names
  ``fakezoo``, ``deepfakebench`` and ``sbi``. The policy also says which faces of a frame are
  kept and which frames of a video are sampled; it is written next to a face dataset and into
  each run trained on it, so prediction crops the way the training data was cropped.
- :func:`sample_frames` decodes evenly spaced video frames with PyAV, one at a time.
- :func:`crop_dataset` (``fakezoo crop SRC DST``) builds a face dataset from photos and videos.

Needs the ``faces`` extra: ``pip install "fakezoo[faces]"``. Importing this package is cheap;
torch, facenet-pytorch and PyAV load on first use.

Example:
    ```python
    # needs: a photo with a face
    from fakezoo import faces
    image = faces.load_image("photo.jpg")
    for face in faces.find_faces(image):
        patch = faces.crop(image, face)          # (256, 256, 3) uint8
    ```
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "VIDEO_EXTENSIONS",
    "AlignedCropPolicy",
    "CropPolicy",
    "CropReport",
    "Face",
    "FaceCrop",
    "FaceFinder",
    "FacesError",
    "VideoDecodeError",
    "crop",
    "crop_dataset",
    "face_crops",
    "find_faces",
    "is_video",
    "list_media",
    "load_image",
    "named_policy",
    "sample_frames",
]

_WHERE = {
    "DEFAULT_POLICY": "policy",
    "POLICIES": "policy",
    "AlignedCropPolicy": "policy",
    "CropPolicy": "policy",
    "named_policy": "policy",
    "crop": "policy",
    "Face": "finder",
    "FaceFinder": "finder",
    "find_faces": "finder",
    "FacesError": "image",
    "load_image": "image",
    "VIDEO_EXTENSIONS": "video",
    "VideoDecodeError": "video",
    "is_video": "video",
    "sample_frames": "video",
    "FaceCrop": "sources",
    "face_crops": "sources",
    "list_media": "sources",
    "CropReport": "dataset",
    "crop_dataset": "dataset",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'fakezoo.faces' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
