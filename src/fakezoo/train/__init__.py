"""Training: the engine that runs the frozen trunk once and trains the tail
(:mod:`~fakezoo.train.engine`), cross-validation (:mod:`~fakezoo.train.cv`) and the Optuna LR
search (:mod:`~fakezoo.train.tune`, with its storages in :mod:`~fakezoo.train.storage`).
"""
