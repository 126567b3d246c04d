"""Synthetic data: Self-Blended Images ([`blend`][fakezoo.synth.blend]), the self-blend training
recipe ([`recipe`][fakezoo.synth.recipe]) and procedural demo faces ([`demo`][fakezoo.synth.demo]).
"""
