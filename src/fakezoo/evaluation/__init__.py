"""Cross-dataset and robustness evaluation of trained runs (``fakezoo evaluate``).

* [`evaluate`][fakezoo.evaluation.api.evaluate] scores one run on new labelled data;
  [`evaluate_many`][fakezoo.evaluation.api.evaluate_many] scores several runs (or a study
  directory) on the same data and gives one comparison table. Both are also
  `fakezoo.evaluate` and `fakezoo.evaluate_many`.
* [`fakezoo.evaluation.results`][fakezoo.evaluation.results] holds what they return
  ([`EvalResult`][fakezoo.evaluation.results.EvalResult],
  [`EvalSuite`][fakezoo.evaluation.results.EvalSuite]) and the files those write.
* [`fakezoo.evaluation.perturb`][fakezoo.evaluation.perturb] holds the seeded perturbations
  (JPEG, blur, resize, noise).
* [`fakezoo.evaluation.stats`][fakezoo.evaluation.stats] holds the CV-EER threshold, bootstrap
  intervals, calibration and video-level aggregation.

Importing this package does not import torch; the names below load their modules on first use.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
