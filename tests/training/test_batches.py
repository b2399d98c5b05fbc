"""Per-hospital batch orders and dropout masks: one stream per hospital, whatever its chunk."""

from __future__ import annotations

import numpy as np

from bflray.seeding import HospitalSeeds, Purpose
from bflray.training.batches import dropout_keep, epoch_orders

KEEP = dict(epochs=2, width=64, units=16, probability=0.25, batch_size=16)


def _keep(ids: np.ndarray, round_: int = 1) -> np.ndarray:
    """Masks as ``hospitals × epochs × width × units`` (undoing the batch-major layout)."""
    out = dropout_keep(seeds=HospitalSeeds(7, round_, ids, Purpose.DROPOUT_MASK), **KEEP).numpy()  # type: ignore[arg-type]
    epochs, nb, h, b, u = out.shape
    return out.transpose(2, 0, 1, 3, 4).reshape(h, epochs, nb * b, u)


def test_dropout_keeps_units_at_the_configured_rate_and_differs_by_hospital_and_round() -> None:
    ids = np.arange(200)
    masks = _keep(ids)
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert abs(masks.mean() - 0.75) < 0.005  # 200 · 2 · 64 · 16 = 409,600 draws
    flat = masks.reshape(len(ids), -1)
    assert len({row.tobytes() for row in flat}) == len(ids)
    assert not np.array_equal(masks, _keep(ids, round_=2))
    # Neighbouring hospitals' streams are not correlated.
    r = np.corrcoef(flat[:-1].ravel(), flat[1:].ravel())[0, 1]
    assert abs(r) < 0.01


def test_a_hospitals_masks_and_orders_do_not_depend_on_who_is_drawn_with_it() -> None:
    ids = np.array([3, 11, 12, 40])
    alone = _keep(np.array([12]))
    assert np.array_equal(_keep(ids)[2], alone[0])
    assert np.array_equal(_keep(ids[::-1])[1], alone[0])
    sizes = np.array([10, 64, 33, 1])
    starts = np.array([0, 100, 200, 300])
    together = epoch_orders(
        seeds=HospitalSeeds(7, 4, ids, Purpose.SHUFFLE), starts=starts, sizes=sizes, epochs=3, width=64
    )
    single = epoch_orders(
        seeds=HospitalSeeds(7, 4, ids[2:3], Purpose.SHUFFLE), starts=starts[2:3], sizes=sizes[2:3], epochs=3, width=64
    )
    assert np.array_equal(together[2], single[0])


def test_each_epoch_visits_every_sample_of_the_hospital_once_in_a_new_order() -> None:
    ids, starts, sizes = np.array([5, 6]), np.array([0, 50]), np.array([50, 37])
    index = epoch_orders(
        seeds=HospitalSeeds(1, 1, ids, Purpose.SHUFFLE), starts=starts, sizes=sizes, epochs=3, width=64
    )
    for i, (start, n) in enumerate(zip(starts, sizes, strict=True)):
        for e in range(3):
            assert sorted(index[i, e, :n].tolist()) == list(range(start, start + n))
            assert (index[i, e, n:] == -1).all()
        assert not np.array_equal(index[i, 0], index[i, 1])
