"""fakezoo's version, in a module of its own so that submodules never import the package root."""

__version__ = "0.1.0"
