"""Prediction with a trained run: results (:mod:`~fakezoo.inference.prediction`), the fold
ensemble (:mod:`~fakezoo.inference.detector`), input dispatch and streaming
(:mod:`~fakezoo.inference.stream`) and the one-liner with its process cache
(:mod:`~fakezoo.inference.api`).
"""
