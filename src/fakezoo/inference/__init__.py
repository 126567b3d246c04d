"""Prediction with a trained run: results ([`prediction`][fakezoo.inference.prediction]), the fold
ensemble ([`detector`][fakezoo.inference.detector]) and its shared trunks
([`ensemble`][fakezoo.inference.ensemble]), the items it takes
([`stream`][fakezoo.inference.stream]) and their streaming in batches
([`pipeline`][fakezoo.inference.pipeline]), the faces of photos and videos
([`faces`][fakezoo.inference.faces]), ONNX export ([`export`][fakezoo.inference.export]) and the
one-liner with its process cache ([`api`][fakezoo.inference.api]).
"""
