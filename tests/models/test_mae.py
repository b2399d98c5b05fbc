"""The masked autoencoder: pre-training learns, masked inference keeps exactly K patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.data import load_digits28_dataset
from bflray.models.mae import MAESpec, MaskedAutoencoder, encode_masked, patchify, sample_visible
from bflray.por.encoders import encode, pretrain_encoder


@pytest.fixture(scope="module")
def digit_images() -> torch.Tensor:
    ds = load_digits28_dataset()
    return torch.from_numpy(ds.images[:256].astype(np.float32))


def test_pretraining_loss_falls_on_digits_and_each_epoch_is_reported(digit_images: torch.Tensor) -> None:
    spec = MAESpec(width=32, depth=1, heads=1, decoder_width=16, mask_ratio=0.75)
    seen: list[tuple[int, float]] = []
    _, losses = pretrain_encoder(
        digit_images, spec, epochs=6, batch_size=64, learning_rate=2e-3, seed=0, hospital=0,
        on_epoch=lambda epoch, loss: seen.append((epoch, loss)),
    )
    assert losses[-1] < 0.75 * losses[0]
    assert seen == list(enumerate(losses, start=1))  # what the pre-training progress bar shows


@pytest.mark.parametrize(("ratio", "visible"), [(0.75, 12), (0.5, 25), (0.9, 5), (0.0, 49)])
def test_masked_encoding_returns_exactly_the_unmasked_patches(digit_images: torch.Tensor, ratio: float, visible: int) -> None:
    spec = MAESpec(width=16, depth=1, heads=1, decoder_width=8, mask_ratio=ratio)
    encoder = MaskedAutoencoder(spec).encoder
    kappa = encode_masked(encoder, digit_images[:10], torch.Generator().manual_seed(0))
    assert spec.visible_patches == visible
    assert kappa.shape == (10, visible, 16)


def test_masks_differ_between_images_and_never_repeat_a_patch() -> None:
    spec = MAESpec(mask_ratio=0.75)
    visible = sample_visible(spec, 64, torch.Generator().manual_seed(1))
    assert all(len(set(row.tolist())) == spec.visible_patches for row in visible)
    assert len({tuple(row.tolist()) for row in visible}) > 60


def test_normal_masking_keeps_central_patches_more_often() -> None:
    spec = MAESpec(mask_ratio=0.9, masking="normal", normal_sigma=0.2)
    visible = sample_visible(spec, 2000, torch.Generator().manual_seed(2))
    grid = spec.grid
    rows, cols = visible // grid, visible % grid
    distance = (rows.float() - (grid - 1) / 2).abs() + (cols.float() - (grid - 1) / 2).abs()
    uniform = sample_visible(MAESpec(mask_ratio=0.9), 2000, torch.Generator().manual_seed(2))
    u_distance = ((uniform // grid).float() - (grid - 1) / 2).abs() + ((uniform % grid).float() - (grid - 1) / 2).abs()
    assert distance.mean() < 0.7 * u_distance.mean()


def test_mae_and_mean_absolute_error_losses_differ(digit_images: torch.Tensor) -> None:
    torch.manual_seed(0)
    mse = MaskedAutoencoder(MAESpec(width=16, depth=1, heads=1, decoder_width=8, loss="mse"))
    mae = MaskedAutoencoder(MAESpec(width=16, depth=1, heads=1, decoder_width=8, loss="mae"))
    mae.load_state_dict(mse.state_dict())
    a = mse.loss(digit_images[:32], torch.Generator().manual_seed(0))
    b = mae.loss(digit_images[:32], torch.Generator().manual_seed(0))
    assert a.item() != pytest.approx(b.item())


def test_patchify_is_row_major_over_the_grid() -> None:
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    patches = patchify(image, 2)
    assert patches[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]


def test_encoding_is_repeatable_from_its_seed(digit_images: torch.Tensor) -> None:
    spec = MAESpec(width=16, depth=1, heads=1, decoder_width=8)
    state = MaskedAutoencoder(spec).encoder.state_dict()
    a = encode(digit_images[:8], state, spec, seed=3, hospital=1, views=2)
    b = encode(digit_images[:8], state, spec, seed=3, hospital=1, views=2)
    c = encode(digit_images[:8], state, spec, seed=3, hospital=2, views=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # two views, two masks


@pytest.mark.parametrize("bad", [{"patch_size": 5}, {"width": 30, "heads": 4}, {"mask_ratio": 1.0}])
def test_invalid_mae_sizes_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MAESpec(**bad)  # type: ignore[arg-type]
