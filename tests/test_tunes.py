"""Tunes through the frozen VAE decoder (codec/distortion.DecodedDistortion, --tune)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from clric_utils.api import compress, decompress_latent, distortion_for
from clric_utils.codec.distortion import (
    LATENT_MSE,
    DecodedDistortion,
    tuned_distortion,
    vae_decoder,
)
from clric_utils.codec.grid_fit import fit_lambda_grid
from clric_utils.codec.schedule import short_effort
from clric_utils.codec.train import fit
from clric_utils.errors import ParameterError
from clric_utils.evaluation.contenders import make_codec
from clric_utils.evaluation.rows import codec_provenance


def _pixel_tune(tiny_vae, **options) -> DecodedDistortion:
    return tuned_distortion("pixel", tiny_vae, **options)


def test_latent_mse_ignores_the_generator_and_binds_to_itself():
    a, b = torch.randn(1, 4, 5, 7), torch.randn(1, 4, 5, 7)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(LATENT_MSE(a, b, generator), F.mse_loss(a, b))
    assert generator.initial_seed() == 0 and LATENT_MSE.bind(a) is LATENT_MSE
    assert not LATENT_MSE.stochastic


@pytest.mark.parametrize("shape", [(8, 12), (24, 37), (5, 30), (12, 12)])
def test_tiles_cover_the_latent_and_stay_inside(tiny_vae, shape):
    tune = _pixel_tune(tiny_vae, tile=12)
    latent = torch.zeros(1, 4, *shape)
    covered = torch.zeros(shape, dtype=torch.bool)
    for i, j in tune.tiles(latent):
        assert 0 <= i <= shape[0] - min(12, shape[0]) and 0 <= j <= shape[1] - min(12, shape[1])
        covered[i:i + 12, j:j + 12] = True
    assert covered.all()


def _blurred_picture(latent: torch.Tensor) -> torch.Tensor:
    """A stand-in decoder that sees one latent pixel around each (a 3×3 blur), 8× nearest."""
    kernel = torch.full((4, 1, 3, 3), 1.0 / 9)
    blurred = F.conv2d(latent, kernel, padding=1, groups=4)[:, :3]
    return F.interpolate(blurred, scale_factor=8)


@pytest.mark.parametrize("corner", [(0, 0), (5, 9), (12, 16), (3, 0)])
def test_a_tile_decoded_with_its_margin_is_that_part_of_the_whole_picture(corner):
    torch.manual_seed(0)
    latent = torch.randn(1, 4, 20, 24)
    tune = DecodedDistortion(_blurred_picture, "pixel", 1.0, 0.0, tile=8, margin=1)
    whole = _blurred_picture(latent)
    i, j = corner
    expected = whole[..., 8 * i:8 * (i + 8), 8 * j:8 * (j + 8)]
    assert torch.equal(tune._picture(latent, corner), expected)
    alone = DecodedDistortion(_blurred_picture, "pixel", 1.0, 0.0, tile=8, margin=0)
    if i > 0:  # without a margin the tile's first row lacks its upper neighbours
        assert not torch.equal(alone._picture(latent, corner), expected)


def test_evaluation_is_exact_and_zero_at_the_true_latent(tiny_vae):
    torch.manual_seed(0)
    latent = torch.randn(1, 4, 16, 24)
    y_hat = latent + 0.3 * torch.randn_like(latent)
    tune = _pixel_tune(tiny_vae, tile=8).bind(latent)
    first, second = tune(y_hat, latent), tune(y_hat, latent)
    assert torch.equal(first, second)
    assert float(first) > float(F.mse_loss(y_hat, latent))  # the pixel term adds to it
    assert float(tune(latent.clone(), latent)) == 0.0
    # By hand: latent MSE + β_pix · the mean over the 4 fixed tiles of the decoded MSE.
    corners = tune.tiles(latent)
    chosen = tune.evaluation_corners(latent)
    assert len(chosen) == 4 and chosen[0] == corners[0] and len(set(chosen)) == 4
    pixel = torch.stack([F.mse_loss(tune._picture(y_hat, c), tune._picture(latent, c))
                         for c in chosen]).mean()
    expected = F.mse_loss(y_hat, latent) + tune.pixel_weight * pixel
    assert torch.allclose(first, expected, rtol=1e-5)
    assert set(tune._targets) == set(chosen)  # their targets decoded once and kept


def test_training_estimate_decodes_one_step_in_every_and_reaches_y_hat_only(tiny_vae):
    torch.manual_seed(0)
    latent = torch.randn(1, 4, 16, 24)
    tune = _pixel_tune(tiny_vae, tile=8, every=4).bind(latent)
    generator = torch.Generator().manual_seed(1)
    plain, decoded = 0, 0
    for _ in range(400):
        y_hat = (latent + 0.3 * torch.randn_like(latent)).requires_grad_(True)
        value = tune(y_hat, latent, generator)
        if torch.equal(value, F.mse_loss(y_hat, latent)):
            plain += 1
        else:
            decoded += 1
        value.backward()
        assert y_hat.grad is not None
    assert 70 <= decoded <= 130  # 400 / every = 100 expected
    assert all(p.grad is None for p in tiny_vae.model.parameters())
    assert not tune._targets  # a training step's tile is anywhere: its target is not kept


def test_bad_tune_settings_are_refused(tiny_vae):
    decoder = vae_decoder(tiny_vae)
    with pytest.raises(ParameterError, match="tune weights"):
        DecodedDistortion(decoder, "pixel", -1.0, 0.0)
    with pytest.raises(ParameterError, match="tune weights"):
        DecodedDistortion(decoder, "pixel", 0.0, 0.0)
    with pytest.raises(ParameterError, match="≥ 1"):
        DecodedDistortion(decoder, "pixel", 1.0, 0.0, tile=0)
    with pytest.raises(ParameterError, match="margin"):
        DecodedDistortion(decoder, "pixel", 1.0, 0.0, margin=-1)
    with pytest.raises(ParameterError, match="unknown tune"):
        tuned_distortion("wasserstein", tiny_vae)


def _first_channel_picture(latent: torch.Tensor) -> torch.Tensor:
    """A frozen stand-in decoder that shows latent channel 0 only (8× nearest, 3 colours)."""
    return F.interpolate(latent[:, :1], scale_factor=8).expand(-1, 3, -1, -1)


def test_a_fit_through_the_decoder_spends_its_bits_where_the_decoder_looks():
    torch.manual_seed(0)
    latent = torch.randn(1, 4, 8, 12)
    plan = short_effort(60)
    plain = fit(latent, (64, 96), 1.0, preset="paper", effort=plan, progress=False)
    tune = DecodedDistortion(_first_channel_picture, "pixel", 10.0, 0.0, tile=8, every=1)
    tuned = fit(latent, (64, 96), 1.0, preset="paper", effort=plan, progress=False,
                distortion=tune)
    assert (plain.distortion, tuned.distortion) == ("latent", "pixel")

    def channel_errors(result) -> torch.Tensor:
        with torch.no_grad():
            return ((result.model("hard").y_hat - latent) ** 2).mean(dim=(0, 2, 3))

    # The decoder shows channel 0 only: the tuned fit reproduces it better, the rest worse.
    assert channel_errors(tuned)[0] < 0.8 * channel_errors(plain)[0]
    assert channel_errors(tuned)[1:].mean() > channel_errors(plain)[1:].mean()
    assert tuned.distortion_value == pytest.approx(float(tune.bind(latent)(
        tuned.model("hard").y_hat.detach(), latent)), rel=1e-5)


def test_compress_with_a_tune_writes_an_ordinary_file(tiny_vae, small_image):
    result = compress(small_image, vae=tiny_vae, lmbda=1.0, preset="paper",
                      effort=short_effort(12), progress=False, tune="perceptual")
    assert result.fit.distortion == "perceptual"
    decoded = decompress_latent(result.data).y_hat
    assert torch.equal(decoded, result.y_hat)  # the encoder's integer-path ŷ, bit-exact
    with torch.no_grad():  # and the float model's, to float precision
        assert torch.allclose(decoded, result.fit.model("hard").y_hat, atol=1e-3)
    assert isinstance(distortion_for(tiny_vae, "pixel"), DecodedDistortion)


def test_grid_fit_refuses_a_tune_through_the_decoder(tiny_vae):
    with pytest.raises(ParameterError, match="cannot be batched"):
        fit_lambda_grid(torch.zeros(1, 4, 8, 8), (64, 64), [1.0, 0.1], preset="paper",
                        effort=short_effort(6), progress=False, distortion=_pixel_tune(tiny_vae))


def test_tuned_codecs_are_curves_of_their_own(tiny_vae):
    codec = make_codec("clric-perceptual", vae=tiny_vae, preset="paper", effort="fast")
    assert codec.name == "clric-perceptual" and codec.tune == "perceptual"
    assert make_codec("clric", vae=tiny_vae).name == "clric"
    assert codec_provenance(codec, tiny_vae)["preset"] == "paper"


def test_the_command_line_refuses_an_unknown_tune(small_image, write_image, tmp_path):
    source = write_image(small_image)
    run = subprocess.run([sys.executable, "-m", "clric_utils.cli", "encode", str(source),
                          "-o", str(tmp_path / "x.clric"), "--vae", "tiny", "--tune", "bogus"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--tune" in run.stderr and "perceptual" in run.stderr
    assert not (tmp_path / "x.clric").exists()


def test_aimed_at_an_image_the_terms_compare_with_its_pixels():
    torch.manual_seed(0)
    latent = torch.randn(1, 4, 4, 6)
    image = torch.rand(1, 3, 29, 45) * 2 - 1  # sides not multiples of 8: padded like the VAE's
    tune = DecodedDistortion(_blurred_picture, "pixel", 2.0, 0.0, tile=2, margin=1)
    aimed = tune.aimed_at(image).bind(latent)
    assert aimed.image.shape == (1, 3, 32, 48) and tune.image is None
    assert torch.equal(aimed.image[..., :29, :45], image)
    assert torch.equal(aimed.image[..., 29:, :45], image[..., 28:29, :].expand(-1, -1, 3, -1))
    corners = aimed.evaluation_corners(latent)
    expected = F.mse_loss(latent, latent) + 2.0 * torch.stack([
        F.mse_loss(aimed._picture(latent, (i, j)), aimed.image[..., 8 * i:8 * i + 16,
                                                              8 * j:8 * j + 16])
        for i, j in corners]).mean()
    assert torch.allclose(aimed(latent, latent), expected)
    assert float(aimed(latent, latent)) > 0  # g(y) is not the image
