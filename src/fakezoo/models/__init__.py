"""The model zoo: the study's backbones ([`registry`][fakezoo.models.registry]), building them with
weights ([`build`][fakezoo.models.build]), freeze policies ([`freeze`][fakezoo.models.freeze]) and
their forward pass as steps ([`stages`][fakezoo.models.stages]).
"""
