"""fakezoo: a model zoo of ImageNet backbones that tell real face images from deepfakes."""

__version__ = "0.1.0"
