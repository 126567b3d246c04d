"""The model zoo: the study's backbones (:mod:`~fakezoo.models.registry`), building them with
weights (:mod:`~fakezoo.models.build`), freeze policies (:mod:`~fakezoo.models.freeze`) and
their forward pass as steps (:mod:`~fakezoo.models.stages`).
"""
