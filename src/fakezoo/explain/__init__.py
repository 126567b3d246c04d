"""Explanations of a [`Detector`][fakezoo.inference.detector.Detector]'s predictions
(`pip install "fakezoo[explain]"`).

* [`fakezoo.explain.gradcam`][fakezoo.explain.gradcam]: Grad-CAM maps of images, averaged over
  the fold models ([`explain`][fakezoo.explain.gradcam.explain],
  [`explain_many`][fakezoo.explain.gradcam.explain_many],
  [`explain_to_folder`][fakezoo.explain.gradcam.explain_to_folder]);
* [`fakezoo.explain.faces`][fakezoo.explain.faces]: a map per face of photos and videos
  ([`explain_faces`][fakezoo.explain.faces.explain_faces] and friends).

The explanations sit above prediction: they take a detector and call it, and the detector
knows nothing of them.

Example:
    ```python
    import fakezoo
    from fakezoo.explain import explain
    e = explain(fakezoo.load("runs/resnet50", device="cpu"), "face.jpg")
    e.save("explanations/", "face")   # explanations/face.png and face.npy
    ```
"""

from .faces import (
    BOX_COLOUR,
    FaceExplanation,
    FacesExplanation,
    draw_faces,
    explain_faces,
    explain_faces_many,
    explain_faces_to_folder,
    explain_media,
)
from .gradcam import (
    DISPLAY_SIZE,
    TARGETS,
    Explanation,
    cam_layer,
    explain,
    explain_many,
    explain_to_folder,
    overlay,
)

__all__ = [
    "BOX_COLOUR",
    "DISPLAY_SIZE",
    "TARGETS",
    "Explanation",
    "FaceExplanation",
    "FacesExplanation",
    "cam_layer",
    "draw_faces",
    "explain",
    "explain_faces",
    "explain_faces_many",
    "explain_faces_to_folder",
    "explain_many",
    "explain_media",
    "explain_to_folder",
    "overlay",
]
