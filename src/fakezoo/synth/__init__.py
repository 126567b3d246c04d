"""Synthetic data: Self-Blended Images (:mod:`~fakezoo.synth.blend`) and procedural demo faces
(:mod:`~fakezoo.synth.demo`).
"""
