"""Synthetic data: Self-Blended Images ([`blend`][fakezoo.synth.blend]) and procedural demo faces
([`demo`][fakezoo.synth.demo]).
"""
