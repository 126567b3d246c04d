"""Faces in the wild: find faces in photos and video frames and crop them like the training data.

The study's models were trained on tight square face crops. [`fakezoo.faces`][fakezoo.faces] turns
whole photos and videos into such crops:

- [`find_faces`][fakezoo.faces.finder.find_faces] finds faces (MTCNN from ``facenet-pytorch``, whose
  weights ship in its wheel, so nothing is downloaded); a [`Face`][fakezoo.faces.finder.Face] has a
  box, a score and five landmarks.
- [`CropPolicy`][fakezoo.faces.policy.CropPolicy] (a box with a margin) and
  [`AlignedCropPolicy`][fakezoo.faces.policy.AlignedCropPolicy] (five landmarks onto a template, as
  DeepfakeBench) with [`crop`][fakezoo.faces.policy.crop] cut one face out; ``POLICIES`` names
  ``fakezoo``, ``deepfakebench`` and ``sbi``. The policy also says which faces of a frame are kept
  and which frames of a video are sampled; it is written next to a face dataset and into each run
  trained on it, so prediction crops the way the training data was cropped.
- [`sample_frames`][fakezoo.faces.video.sample_frames] decodes evenly spaced video frames with PyAV,
  one at a time.
- [`crop_dataset`][fakezoo.faces.dataset.crop_dataset] (``fakezoo crop SRC DST``) builds a face
  dataset from photos and videos, with each crop's landmarks in ``landmarks.csv``;
  [`read_landmarks`][fakezoo.faces.landmarks.read_landmarks] and
  [`write_landmarks`][fakezoo.faces.landmarks.write_landmarks] read and write such a file
  (no extra needed).

Needs the ``faces`` extra: ``pip install "fakezoo[faces]"``. Importing this package is cheap:
the names below load their modules (and torch, facenet-pytorch, PyAV) on first use.

Example:
    ```python
    # needs: a photo with a face
    from fakezoo import faces
    image = faces.load_image("photo.jpg")
    for face in faces.find_faces(image):
        patch = faces.crop(image, face)          # (256, 256, 3) uint8
    ```
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
