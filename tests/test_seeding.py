"""``HospitalSeeds`` starts every hospital's stream exactly where ``derive_rng`` does."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.seeding import HospitalSeeds, Purpose, derive_rng

# seeds and rounds of one, two and four 32-bit words (numpy hashes each word of a large int)
CASES = [(0, 0), (7, 3), (2**32 - 1, 1), (2**32, 2), (123456789012345678901234567890, 5), (11, 2**40)]


@pytest.mark.parametrize(("seed", "round_"), CASES)
@pytest.mark.parametrize("purpose", [Purpose.SHUFFLE, Purpose.DROPOUT_MASK, Purpose.MALICIOUS])
def test_streams_match_derive_rng_word_for_word(seed: int, round_: int, purpose: Purpose) -> None:
    rs = np.random.default_rng(seed % 1000 + round_ % 1000)
    ids = np.concatenate([[0, 1, 2, 2**32 - 1], rs.integers(0, 2**32, size=60)])
    seeds = HospitalSeeds(seed, round_, ids, purpose)
    assert len(seeds) == len(ids)
    for h, rng in zip(ids.tolist(), seeds.generators(), strict=True):
        reference = derive_rng(seed, round_, h, purpose)
        assert rng.bit_generator.state == reference.bit_generator.state
        assert np.array_equal(rng.bit_generator.random_raw(8), reference.bit_generator.random_raw(8))
        assert np.array_equal(rng.permutation(50), reference.permutation(50))  # the Generator on top too
    part = [rng.bit_generator.random_raw(2).tolist() for rng in seeds[10:20].generators()]
    expected = [derive_rng(seed, round_, h, purpose).bit_generator.random_raw(2).tolist() for h in ids[10:20].tolist()]
    assert part == expected


def test_a_slice_and_ids_numpy_would_split_differently_give_the_same_streams() -> None:
    ids = np.array([5, 2**32, 9, 2**40 + 3])  # ids above 32 bits: numpy's own words, through derive_rng
    seeds = HospitalSeeds(3, 4, ids, Purpose.SHUFFLE)
    alone = HospitalSeeds(3, 4, ids[:1], Purpose.SHUFFLE)
    for part, expected in ((seeds, ids), (seeds[1:3], ids[1:3]), (alone, ids[:1])):
        draws = [rng.bit_generator.random_raw(4).tolist() for rng in part.generators()]
        assert draws == [derive_rng(3, 4, h, Purpose.SHUFFLE).bit_generator.random_raw(4).tolist() for h in expected]


def test_iterators_of_one_seed_set_do_not_share_a_generator() -> None:
    seeds = HospitalSeeds(1, 1, np.arange(4), Purpose.SHUFFLE)
    a, b = seeds.generators(), seeds.generators()
    first_a = next(a).bit_generator.random_raw(3)
    assert next(b).bit_generator.random_raw(3).tolist() == first_a.tolist()  # b's hospital 0 untouched by a's draws
    second = derive_rng(1, 1, 1, Purpose.SHUFFLE).bit_generator.random_raw(3).tolist()
    assert next(a).bit_generator.random_raw(3).tolist() == second
