"""Tiled VAE passes (issue 15, finding 2): tiles cover the image, blending is seamless, and
large images go through the VAE in tiles automatically."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from clric_utils.vae import latents
from clric_utils.vae.tiling import tile_spans, tiled_map


@pytest.mark.parametrize("tile, overlap, align", [(96, 16, 1), (32, 16, 1), (768, 128, 8),
                                                  (40, 8, 8)])
def test_tiles_cover_with_the_overlap(tile, overlap, align):
    for size in range(align, 2000, 7 * align):
        spans = tile_spans(size, tile, overlap, align)
        covered = torch.zeros(size, dtype=torch.bool)
        for start, length in spans:
            assert 0 < length <= tile and start % align == 0
            covered[start : start + length] = True
        assert covered.all()
        for (a, la), (b, _) in zip(spans, spans[1:], strict=False):
            assert a + la - b >= overlap


def test_tiled_map_of_a_local_function_is_exact():
    """A function without context (nearest ×8 upsampling) is reproduced exactly, seams and all."""
    x = torch.randn(1, 4, 50, 77)

    def upsample(t):
        return F.interpolate(t, scale_factor=8, mode="nearest")[:, :3]

    tiled = tiled_map(x, upsample, 16, 6, Fraction(8), 3)
    assert torch.allclose(tiled, upsample(x), atol=1e-5)


def _round_trip_psnr(vae, x: torch.Tensor, tiling: bool) -> float:
    vae.tiling = tiling
    error = (vae.reconstruct(x) - x).mul(127.5).pow(2).mean()
    return float(10 * torch.log10(255.0**2 / error))


def test_tiling_costs_at_most_0_05_db(house_vae, kodim01):
    """A 256×512 crop of kodim01 through ``house`` in tiles of 32 latent pixels (1 × 3 tiles).

    (``benchmarks/vae_tiling.py`` measures whole Kodak images: 0.0026 dB *better* tiled.)
    """
    from clric_utils.images import crop_center, image_to_tensor

    x = image_to_tensor(crop_center(kodim01, 256, 512))
    saved = latents.TILE_LATENT, house_vae.tiling
    try:
        latents.TILE_LATENT = 32
        one_pass = _round_trip_psnr(house_vae, x, False)
        tiled = _round_trip_psnr(house_vae, x, True)
    finally:
        latents.TILE_LATENT, house_vae.tiling = saved
    assert one_pass - tiled <= 0.05, (one_pass, tiled)


def test_tiled_passes_keep_shapes_with_a_kl_vae(tiny_vae, small_image):
    """The KL VAEs (GroupNorm) go through the same path: shapes, range and padding hold."""
    from clric_utils.images import image_to_tensor

    x = image_to_tensor(small_image)
    saved = latents.TILE_LATENT, latents.TILE_OVERLAP_LATENT, tiny_vae.tiling
    try:
        latents.TILE_LATENT, latents.TILE_OVERLAP_LATENT, tiny_vae.tiling = 6, 2, True
        latent = tiny_vae.encode(x)
        image = tiny_vae.decode(latent, 75, 100)
    finally:
        latents.TILE_LATENT, latents.TILE_OVERLAP_LATENT, tiny_vae.tiling = saved
    assert latent.shape == (1, 4, 10, 13) and torch.isfinite(latent).all()
    assert image.shape == (1, 3, 75, 100) and image.abs().max() <= 1


def test_tiling_switches_on_above_the_threshold(tiny_vae):
    assert not tiny_vae.uses_tiles(768, 512)  # Kodak: one pass, as before
    assert tiny_vae.uses_tiles(2048, 2048)
    assert tiny_vae.uses_tiles(16384, 6000)
