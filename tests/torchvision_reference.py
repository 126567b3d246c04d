"""The study's side of the comparison: torchvision models and a plain notebook training loop.

Nothing here uses fakezoo. The loop is written the way the study's notebook would write it:
a torchvision model in ``train()``, ``requires_grad=False`` on the frozen parameters, Adam,
cross-entropy, a DataLoader over the training images.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# The study's "last N layers", in torchvision's module names.
TRAINABLE = {
    ("resnet50", True): ("layer4", "fc"),
    ("resnet50", False): ("fc",),
    ("vgg16", True): ("classifier.3", "classifier.6"),
    ("vgg16", False): ("classifier.6",),
    ("mobilenet_v2", True): (
        "features.14",
        "features.15",
        "features.16",
        "features.17",
        "features.18",
        "classifier",
    ),
    ("mobilenet_v2", False): ("classifier",),
}


def torchvision_model(name: str, num_classes: int = 1000, **kwargs) -> nn.Module:
    """A torchvision model with random weights and non-trivial BatchNorm statistics."""
    if name == "vit_b_16":
        kwargs.setdefault("image_size", 32)
    if name == "inception_v3":
        kwargs.setdefault("init_weights", False)
        kwargs.setdefault("aux_logits", True)
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes, **kwargs)
    g = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=g) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=g) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=g) * 0.1)
    return model


def new_head(model: nn.Module, name: str, num_classes: int = 2) -> None:
    """Replace the ImageNet classifier with a fresh one, as the study did."""
    if name == "resnet50":
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif name in {"vgg16", "mobilenet_v2"}:
        last = len(model.classifier) - 1
        model.classifier[last] = nn.Linear(model.classifier[last].in_features, num_classes)
    else:
        raise ValueError(name)


def freeze_like_the_study(model: nn.Module, trainable: tuple[str, ...]) -> None:
    for pname, param in model.named_parameters():
        param.requires_grad = any(pname.startswith(t + ".") for t in trainable)


def notebook_loop(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
    order_seed: int,
    dropout_seed: int,
    channels_last: bool = False,
) -> np.ndarray:
    """Train on ``train_idx`` and return P(fake) on ``val_idx``.

    Batches come from a shuffling DataLoader whose generator is seeded with ``order_seed``
    each epoch, drawing ``torch.randperm`` over the training part; dropout masks come from
    torch's global generator, seeded once with ``dropout_seed``. ``channels_last`` only
    changes the memory layout (and so the rounding of the convolutions).
    """
    normalize = torchvision.transforms.Normalize([0.5] * 3, [0.5] * 3)
    x = normalize(images.float() / 255)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        model.to(memory_format=torch.channels_last)
    train = TensorDataset(x[train_idx], labels[train_idx])
    order = torch.Generator().manual_seed(order_seed)

    class Shuffled(torch.utils.data.Sampler):
        def __len__(self):
            return len(train)

        def __iter__(self):
            return iter(torch.randperm(len(train), generator=order).tolist())

    loader = DataLoader(
        train, batch_size=batch_size, sampler=Shuffled(), generator=torch.Generator()
    )  # keeps the global generator for dropout
    optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=lr)
    criterion = nn.CrossEntropyLoss()
    torch.manual_seed(dropout_seed)
    for _ in range(epochs):
        model.train()
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return model(x[val_idx]).softmax(dim=1)[:, 1].numpy()
