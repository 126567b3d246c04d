"""Training one fold: run the frozen trunk once, cache its output, train only the tail.

The study's preprocessing has no random augmentation and everything before the first trainable
module is frozen, so the trunk's output for an image never changes.
[`compute_trunk`][fakezoo.train.engine.compute_trunk] runs it once per image (eval mode, autocast
and channels_last on GPUs) and [`train_fold`][fakezoo.train.engine.train_fold] trains the tail on
that cache for every epoch. With augmentation (or in study mode) the cache no longer holds and
``train_fold`` runs the whole model on every step instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from timm.layers import convert_sync_batchnorm
from timm.optim import create_optimizer_v2
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .._device import amp_mode, autocast, resolve_device
from .._progress import tqdm_disable
from ..data.outofcore import PLAN, BatchWriter, MappedArray, locked, open_complete
from ..memory import format_size
from ..models.backends import choose_backend, trunk_runner
from ..models.stages import Stage, run_stages, split_trunk_tail
from .distributed import world
from .settings import TrainSettings

if TYPE_CHECKING:
    from ..synth.recipe import BlendedImages

__all__ = [
    "FoldOutput",
    "Spill",
    "amp_mode",
    "compute_trunk",
    "resolve_device",
    "train_fold",
]


logger = logging.getLogger("fakezoo")


@dataclass
class FoldOutput:
    """What one trained fold predicts on its validation part."""

    y_true: np.ndarray
    y_prob: np.ndarray
    history: list[float] = field(default_factory=list)  # validation accuracy after each epoch

    @property
    def y_pred(self) -> np.ndarray:
        return (self.y_prob >= 0.5).astype(np.int64)


def _to_model_input(
    model: nn.Module, images: torch.Tensor, device: torch.device, augment: Callable | None = None
) -> torch.Tensor:
    images = images.to(device, non_blocking=True)
    if augment is not None:
        images = augment(images)
    x = model.preprocessing.normalize(images)
    return x.contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class Spill:
    """Where [`compute_trunk`][fakezoo.train.engine.compute_trunk] keeps its output when it
    would take more than ``budget`` bytes: a resumable memory-mapped array in ``folder``."""

    folder: Path
    budget: int


def compute_trunk(
    model: nn.Module,
    images: torch.Tensor | MappedArray,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    dtype: torch.dtype = torch.float16,
    amp: bool = True,
    progress: bool | None = None,
    keep_on_device: bool | None = None,
    backend: str = "auto",
    spill: Spill | None = None,
) -> torch.Tensor | MappedArray:
    """Run a model's frozen trunk once over uint8 images (N, 3, S, S) and return its output.

    The trunk is everything before the first stage with a trainable parameter. Its output is
    returned in ``dtype``, on the GPU when it fits in a third of the free memory, else on the
    CPU. ``backend`` picks what runs the trunk, as for prediction
    ([`fakezoo.models.backends.choose_backend`][fakezoo.models.backends.choose_backend]: ``"auto"``
    runs it with ONNX Runtime on a CPU for the architectures where that was measured faster, else
    eager PyTorch).

    With ``spill``, an output larger than ``spill.budget`` bytes is written batch by batch into
    a memory-mapped file in ``spill.folder`` (after checking the disk) and returned as a
    [`MappedArray`][fakezoo.data.outofcore.MappedArray] with the same values; a pass stopped
    midway continues from its last finished batch, and a finished one is only opened.

    Example:
        ```python
        import fakezoo, torch
        from fakezoo.train.engine import compute_trunk
        model = fakezoo.create("resnet50", finetune=False, pretrained=False, image_size=64)
        images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
        compute_trunk(model, images, device="cpu").shape  # torch.Size([4, 2048])
        ```
    """
    with contextlib.ExitStack() as stack:
        return _trunk_pass(model, images, device, batch_size, dtype, amp, progress,
                           keep_on_device, backend, spill, stack)  # fmt: skip


def _trunk_pass(
    model: nn.Module,
    images: torch.Tensor | MappedArray,
    device: str | torch.device,
    batch_size: int,
    dtype: torch.dtype,
    amp: bool,
    progress: bool | None,
    keep_on_device: bool | None,
    backend: str,
    spill: Spill | None,
    stack: contextlib.ExitStack,
) -> torch.Tensor | MappedArray:
    if spill is not None:
        found = open_complete(spill.folder)
        if found is not None:
            return found[0]

    def claim() -> tuple[BatchWriter | None, MappedArray | None]:
        """Take the folder's lock; then the finished array, or the unfinished one to go on."""
        stack.enter_context(locked(spill.folder))
        found = open_complete(spill.folder)
        if found is not None:
            return None, found[0]
        return BatchWriter.resume(spill.folder, batch_size), None

    device = resolve_device(device)
    trunk, _ = split_trunk_tail(model)
    model.eval().to(device, memory_format=torch.channels_last)
    runner = (
        trunk_runner(
            trunk,
            choose_backend(backend, device, model.spec.architecture),
            model.preprocessing.image_size,
        )
        if len(images)
        else None
    )
    n = len(images)
    writer = None
    if spill is not None and (spill.folder / PLAN).exists():  # a pass that stopped midway
        writer, found = claim()
        if found is not None:
            return found
    if writer is not None:
        dtype = getattr(torch, writer.dtype)  # float32 if float16 overflowed before the stop
        logger.info(
            "%s: resuming the frozen trunk pass in %s (%d of %d batches done)",
            model.spec.name,
            spill.folder,
            len(writer.done),
            -(-n // batch_size),
        )
    outputs: list[torch.Tensor] = []
    bar = tqdm(
        total=n,
        desc=f"{model.spec.name}: frozen trunk",
        unit="img",
        disable=tqdm_disable(progress),
        leave=False,
    )
    store = torch.device("cpu")
    try:
        with torch.inference_mode(), autocast(device, amp):
            for batch, start in enumerate(range(0, n, batch_size)):
                if writer is not None and batch in writer.done:
                    bar.update(min(batch_size, n - start))
                    continue
                x = _to_model_input(model, images[start : start + batch_size], device)
                out = runner(x) if runner is not None else run_stages(trunk, x)
                if dtype == torch.float16 and out.abs().max() > torch.finfo(torch.float16).max:
                    # e.g. randomly initialised networks: keep the cache exact rather than inf.
                    logger.warning(
                        "%s: trunk outputs exceed the float16 range; caching them in float32 "
                        "instead.",
                        model.spec.name,
                    )
                    dtype = torch.float32
                    outputs = [o.to(dtype) for o in outputs]
                    if writer is not None:
                        writer.widen("float32")
                out = out.to(dtype)
                if batch == 0 and spill is not None and writer is None:
                    need = out[0].numel() * out.element_size() * n
                    if need > spill.budget:
                        writer, found = claim()
                        if found is not None:  # another process finished it meanwhile
                            return found
                        if writer is not None and writer.dtype != str(dtype).removeprefix("torch."):
                            writer.close()
                            writer = None
                    if need > spill.budget and writer is None:
                        writer = BatchWriter.start(
                            spill.folder,
                            (n, *out.shape[1:]),
                            str(dtype).removeprefix("torch."),
                            batch_size,
                            f"{model.spec.name} trunk output",
                        )
                        logger.info(
                            "%s: the trunk output (%s) exceeds the memory budget: writing it to %s",
                            model.spec.name,
                            format_size(need),
                            spill.folder,
                        )
                if writer is not None:
                    if batch not in writer.done:  # (another process may have written it)
                        rows = out.cpu().contiguous()
                        if rows.dtype == torch.bfloat16:
                            rows = rows.view(torch.int16)
                        writer.write(start, rows.numpy())
                        writer.mark_done(batch)
                    bar.update(len(x))
                    continue
                if not outputs and device.type == "cuda":
                    free, _ = torch.cuda.mem_get_info(device)
                    need = out[0].numel() * out.element_size() * n
                    fits = need < free / 3 if keep_on_device is None else keep_on_device
                    store = device if fits else store
                outputs.append(out.to(store).contiguous())
                bar.update(len(x))
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    finally:
        bar.close()
    if writer is not None:
        return writer.finish()
    return torch.cat(outputs) if outputs else torch.empty(0)


# timm's names: its "sgd" is Nesterov SGD, "momentum" the plain SGD with momentum the study uses.
_TIMM_OPTIMIZERS = {"adam": "adam", "adamw": "adamw", "sgd": "momentum"}


def _optimizer(params: list[nn.Parameter], lr: float, settings: TrainSettings):
    """The same optimiser as ``torch.optim.Adam/AdamW/SGD(momentum=0.9)``, built by timm."""
    return create_optimizer_v2(
        params,
        opt=_TIMM_OPTIMIZERS[settings.optimizer],
        lr=lr,
        weight_decay=settings.weight_decay,
        momentum=0.9,
    )


def _train_mode(model: nn.Module, trunk: Sequence[Stage], mode: str) -> None:
    """Train mode for the tail; in fast mode the frozen trunk stays in eval mode."""
    model.train()
    if mode == "study":
        return  # the study's model.train(): every BatchNorm and dropout in training mode
    for stage in trunk:
        if isinstance(stage.fn, nn.Module):
            stage.fn.eval()


class Tail(nn.Module):
    """The trainable tail of a model as one module, for ``DistributedDataParallel``."""

    def __init__(self, model: nn.Module, stages: Sequence[Stage]):
        super().__init__()
        self.stages = list(stages)
        modules, params = nn.ModuleList(), nn.ParameterList()
        for name in (o for stage in stages for o in stage.owns):
            part = getattr(
                model.get_submodule(name.rpartition(".")[0]), name.rpartition(".")[2], None
            )
            if isinstance(part, nn.Module):
                modules.append(part)
            elif isinstance(part, nn.Parameter):
                params.append(part)
        self.owned_modules, self.owned_params = modules, params  # what DDP all-reduces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_stages(self.stages, x)


def _training_batchnorms(module: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers that train (frozen ones are FrozenBatchNorm2d)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the fold's seed (one process trains as before); the others get their own."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


_WARNED_BATCHNORM: set[str] = set()  # models warned about CPU BatchNorm under torchrun


def train_fold(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    lr: float,
    settings: TrainSettings,
    *,
    device: str | torch.device = "auto",
    fold: int = 0,
    full: bool = False,
    progress: bool | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    pairs: BlendedImages | None = None,
) -> FoldOutput:
    """Train one fold and predict its validation part.

    Args:
        model: a zoo model; its trainable parameters are optimised in place.
        inputs: the cached trunk output (``full=False``) or the uint8 images (``full=True``).
        labels: (N,) int64, 0 real, 1 fake.
        train_idx: indices into ``inputs`` to train on.
        val_idx: indices into ``inputs`` to score.
        lr: learning rate.
        settings: the epochs, batch size, optimiser, seed, mode, mixed precision and
            augmentation (a callable on uint8 image batches, applied to training batches
            only) of [`TrainSettings`][fakezoo.train.settings.TrainSettings].
        fold: mixed into the seed, so each fold has its own batch order.
        full: run the whole model on every step (needed with augmentation and in study mode).
        progress: a progress bar; ``None`` shows it on a terminal only.
        on_epoch: called with (epoch, validation accuracy) after each epoch; it may raise
            (Optuna's pruning does) to stop the fold.
        pairs: the self-blended images that ``inputs`` come from
            ([`BlendedImages`][fakezoo.synth.recipe.BlendedImages]): each step then trains on
            ``batch_size // 2`` real faces of ``train_idx`` and one fake of each, in the same
            batch (their fixed fake for the epoch, or with ``pairs.online`` and ``full=True``
            a fresh one).

    Under ``torchrun`` ([`join_world`][fakezoo.train.distributed.join_world]) every process
    draws the same batch order, trains on its share (``batch[rank::world_size]``) of each
    global batch of ``settings.batch_size`` images, and ``DistributedDataParallel`` sums the
    gradients, weighted so that they equal one process's; each process predicts its share of
    the validation part and they gather the whole.

    Example:
        ```python
        import fakezoo, numpy as np, torch
        from fakezoo.train.engine import compute_trunk, train_fold
        from fakezoo.train.settings import TrainSettings
        model = fakezoo.create("resnet50", finetune=False, pretrained=False, image_size=64)
        images = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8)
        labels = torch.tensor([0, 1] * 4)
        feats = compute_trunk(model, images, device="cpu")
        out = train_fold(model, feats, labels, np.arange(6), np.arange(6, 8), 1e-3,
                         TrainSettings(epochs=1), device="cpu")
        out.y_prob.shape  # (2,)
        ```
    """
    augment = settings.augment
    if augment is not None and not full:
        raise ValueError("augment needs full=True: augmented images change the trunk's output.")
    if settings.mode == "study" and not full:
        raise ValueError(
            "mode='study' needs full=True: BatchNorm in train mode makes the "
            "trunk's output depend on the batch, so it cannot be cached."
        )
    if pairs is not None and pairs.online and not full:
        raise ValueError("online self-blending needs full=True: fresh fakes change every epoch.")
    device = resolve_device(device)
    model.to(device, memory_format=torch.channels_last)
    trunk, tail = split_trunk_tail(model)
    if not tail:
        raise ValueError(f"{model.spec.name} has no trainable parameters: nothing to train.")
    group = world()
    if group.size > 1 and _training_batchnorms(model if full else Tail(model, tail)):
        if device.type == "cuda":  # batch statistics over the global batch, as on one GPU
            model = convert_sync_batchnorm(model)
            trunk, tail = split_trunk_tail(model)
        elif group.main and model.spec.name not in _WARNED_BATCHNORM:
            _WARNED_BATCHNORM.add(model.spec.name)  # once per model, not every fold and trial
            logger.warning(
                "%s: its trained BatchNorm layers normalise each process's share of a batch "
                "(SyncBatchNorm needs GPUs), so on %d CPU processes the numbers differ from "
                "one process's.",
                model.spec.name,
                group.size,
            )
    forward = model if full else (lambda x: run_stages(tail, x))
    train_forward = forward
    if group.size > 1:
        train_forward = DistributedDataParallel(
            model if full else Tail(model, tail),
            device_ids=[device] if device.type == "cuda" else None,
        )

    def prepare(batch: torch.Tensor, train: bool) -> torch.Tensor:
        if full:
            return _to_model_input(model, batch, device, augment if train else None)
        return batch.to(device, non_blocking=True).float()

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(params, lr, settings)
    loss_fn = nn.CrossEntropyLoss(reduction="mean" if group.size == 1 else "sum")
    # fp16 autocast needs loss scaling, or small gradients underflow to zero (bf16 does not).
    scaler = (
        torch.amp.GradScaler("cuda") if amp_mode(device, settings.amp) == "fp16+scaler" else None
    )
    fold_seed = settings.seed * 1000 + fold
    generator = torch.Generator().manual_seed(fold_seed)
    labels = labels.to(device)
    if pairs is not None:  # the real faces drive the epoch; each brings a fake along
        train_idx = pairs.real_rows(train_idx)
    per_step = settings.batch_size if pairs is None else max(1, settings.batch_size // 2)
    train_idx = torch.as_tensor(train_idx, dtype=torch.long)
    val_idx = torch.as_tensor(val_idx, dtype=torch.long)

    def predict() -> np.ndarray:
        model.eval()
        probs = [torch.empty(0)]
        mine = val_idx[group.rank :: group.size]  # each process its share, gathered after
        with torch.inference_mode(), autocast(device, settings.amp):
            for start in range(0, len(mine), settings.batch_size * 2):
                idx = mine[start : start + settings.batch_size * 2]
                logits = forward(prepare(inputs[idx], train=False)).float()
                probs.append(logits.softmax(dim=1)[:, 1].cpu())
        return group.gather_strided(torch.cat(probs).numpy(), len(val_idx))

    def batch_of(rows: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The model input and labels of a step: ``rows``, with their fakes when paired."""
        if pairs is not None and pairs.online:
            fakes = pairs.fresh_fakes(inputs, rows.numpy(), epoch, fold)
            fake = torch.ones(len(rows), dtype=torch.long, device=device)
            y = torch.cat([labels[rows.to(device)], fake])
            return prepare(torch.cat([inputs[rows], fakes]), train=True), y
        if pairs is not None:
            rows = torch.cat([rows, torch.as_tensor(pairs.partner_rows(rows.numpy(), epoch))])
        return prepare(inputs[rows], train=True), labels[rows.to(device)]

    def step_loss(batch: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's loss on its share of a global batch, and the global mean loss."""
        idx = batch if group.size == 1 else batch[group.rank :: group.size]
        x, y = batch_of(idx, epoch)
        with autocast(device, settings.amp):
            loss = loss_fn(train_forward(x).float(), y)
        if group.size == 1:
            return loss, loss.detach()
        # DDP averages the gradients over the processes: scaled so, they are the global mean's.
        loss = loss * (group.size / (len(batch) * (1 if pairs is None else 2)))
        total = loss.detach() / group.size
        torch.distributed.all_reduce(total)  # every rank sees the same loss, and stops on it
        return loss, total

    y_true = labels[val_idx.to(device)].cpu().numpy()
    steps = settings.epochs * -(-len(train_idx) // per_step)
    bar = tqdm(
        total=steps,
        desc=f"{model.spec.name} fold {fold}",
        unit="step",
        disable=tqdm_disable(progress) or not group.main,
        leave=False,
    )
    history: list[float] = []
    # Dropout masks come from torch's global generator, seeded per fold and restored after.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(_rank_seed(fold_seed, group.rank))
        for epoch in range(settings.epochs):
            _train_mode(model, trunk, settings.mode)
            order = train_idx[torch.randperm(len(train_idx), generator=generator)]
            for start in range(0, len(order), per_step):
                loss, total = step_loss(order[start : start + per_step], epoch)
                if not torch.isfinite(total):
                    raise FloatingPointError(
                        f"{model.spec.name} fold {fold}: the loss became {total.item()} "
                        f"at lr={lr:g}"
                        f" (epoch {epoch + 1}). The learning rate is too high for this model, or "
                        f"its inputs are out of range; try a lower lr."
                    )
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:  # skips the step when the scaled gradients overflowed, then rescales
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                bar.update(1)
            y_prob = predict()
            history.append(float(((y_prob >= 0.5) == y_true).mean()))
            bar.set_postfix(val_acc=f"{history[-1]:.3f}")
            if on_epoch is not None:
                on_epoch(epoch, history[-1])
    bar.close()
    return FoldOutput(y_true=y_true, y_prob=y_prob, history=history)
