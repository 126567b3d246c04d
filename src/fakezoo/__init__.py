"""fakezoo: a model zoo of ImageNet backbones that tell real face images from deepfakes."""

__version__ = "0.1.0"

from .zoo import create, get_spec, list_models

__all__ = ["__version__", "create", "get_spec", "list_models"]
