"""Prediction with a trained run: results ([`prediction`][fakezoo.inference.prediction]), the fold
ensemble ([`detector`][fakezoo.inference.detector]), input dispatch and streaming
([`stream`][fakezoo.inference.stream]) and the one-liner with its process cache
([`api`][fakezoo.inference.api]).
"""
