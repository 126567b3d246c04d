"""Training: the settings every run is made with
([`fakezoo.train.settings`][fakezoo.train.settings]), the engine that runs the frozen trunk once
and trains the tail ([`fakezoo.train.engine`][fakezoo.train.engine]), cross-validation
([`fakezoo.train.cv`][fakezoo.train.cv]) and the Optuna LR search
([`fakezoo.train.tune`][fakezoo.train.tune], with its storages in
[`fakezoo.train.storage`][fakezoo.train.storage]).
"""
