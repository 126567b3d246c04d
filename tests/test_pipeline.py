"""The streaming pipeline: parallel decoding ahead of the model, fixed-size batches, bounded
memory, results per item in order."""

import numpy as np
import pytest
import torch

from fakezoo.inference.pipeline import score_stream


def _constant(n: int) -> np.ndarray:
    return np.full((4, 4, 3), n % 256, dtype=np.uint8)


@pytest.mark.parametrize("workers", [0, 2])
def test_fixed_batches_several_arrays_per_item_and_errors(workers):
    def decode(n):
        if n == 3:
            raise ValueError("broken item")
        return [_constant(n)] * (n % 3)  # 0, 1 or 2 arrays (faces of a photo, frames)

    sizes = []

    def forward(x):
        assert x.shape[1:] == (3, 4, 4) and x.dtype == torch.uint8
        sizes.append(len(x))
        return x.float().mean(dim=(1, 2, 3))[:, None]

    results = list(score_stream(range(10), decode, forward, batch_size=4, workers=workers))
    assert [r.item for r in results] == list(range(10))
    assert results[3].error == "unexpected error (ValueError: broken item)"
    assert results[3].outputs is None
    for r in results:
        if r.item != 3:
            assert r.error is None
            assert r.outputs.flatten().tolist() == [float(r.item)] * (r.item % 3)
    assert sum(sizes) == 9 and sizes[:-1] == [4, 4]  # every batch full but the last


def test_memory_stays_bounded_on_a_long_stream():
    pulled = 0
    scored = 0
    in_flight = []

    def items():
        nonlocal pulled
        for n in range(2000):
            pulled += 1
            yield n

    def forward(x):
        nonlocal scored
        in_flight.append(pulled - scored)
        scored += len(x)
        return torch.zeros(len(x), 1)

    count = sum(
        1 for _ in score_stream(items(), _constant, forward, batch_size=8, workers=2, prefetch=2)
    )
    assert count == 2000 and scored == 2000
    assert max(in_flight) <= 2 * 8  # read but not yet scored: two batches at most


def test_bad_items_raise_from_check_before_decoding():
    def check(item):
        if not isinstance(item, int):
            raise TypeError(f"not an int: {item!r}")

    with pytest.raises(TypeError, match="not an int"):
        list(score_stream([1, "x"], _constant, lambda x: torch.zeros(len(x), 1), check=check))
