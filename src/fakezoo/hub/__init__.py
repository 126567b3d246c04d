"""Sharing cross-validation runs on the Hugging Face Hub.

A run directory written by
[`CrossValidator.run`][fakezoo.train.cv.CrossValidator.run] is pushed as one commit with a
generated model card ([`fakezoo.hub.push`][fakezoo.hub.push],
[`fakezoo.hub.card`][fakezoo.hub.card]) and each fold on a branch of its own that timm loads
([`fakezoo.hub.timm_folds`][fakezoo.hub.timm_folds]). Reading runs back, locally or from the
Hub, is [`fakezoo.runs`][fakezoo.runs]'s job; the files themselves come through
[`fakezoo.download`][fakezoo.download].

The names below load their modules on first use.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
