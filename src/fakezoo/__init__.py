"""fakezoo: a model zoo of ImageNet backbones that tell real face images from deepfakes.

Example:
    ```python
    import fakezoo
    model = fakezoo.create("resnet50", finetune=True)        # timm model + policy + preprocessing
    data = fakezoo.load_dataset("faces/")                     # real/ and fake/ folders, or a CSV
    cv = fakezoo.CrossValidator(epochs=3)
    found = fakezoo.optuna_lr_search("resnet50", data, n_trials=20, cv=cv, out_dir="runs/r50")
    fakezoo.predict("face.jpg", model="runs/r50")
    ```
"""

import lazy_loader

from ._version import __version__ as __version__

# The public names load on first use (PEP 562), so that `import fakezoo` and `fakezoo --help`
# load no torch, timm, optuna, sklearn or matplotlib. __init__.pyi says where each one lives.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
