"""Decoder MAC counts: the paper's Table 1, the lite preset's budget, and the VAE hook counter."""

from __future__ import annotations

import argparse

import pytest
import torch

from clric_utils.codec.arch import get_preset
from clric_utils.codec.macs import (
    PAPER_TABLE_1,
    arm_macs_per_value,
    decoder_macs,
    synthesis_macs_per_latent_pixel,
    upsampling_macs,
    vae_decoder_macs_per_pixel,
)
from clric_utils.commands import macs as macs_command


@pytest.mark.parametrize(("size", "paper"), sorted(PAPER_TABLE_1.items()))
def test_paper_preset_reproduces_table_1(size: tuple[int, int], paper: float) -> None:
    """The paper preset is within 5 % of CLRIC's 25.9 and 25.48 MAC per pixel."""
    total = decoder_macs("paper", *size).per_pixel()["total"]
    assert abs(total / paper - 1) < 0.05, total


def test_lite_preset_budget_and_parts() -> None:
    """lite ≤ 10 MAC/pixel; the parts add up; hand-counted per-part values of the paper preset."""
    assert decoder_macs("lite", 512, 768).per_pixel()["total"] <= 10
    paper = get_preset("paper")
    assert arm_macs_per_value(paper) == 2 * 16 * 16 + 2 * 16
    assert synthesis_macs_per_latent_pixel(paper, 7) == 7 * 48 + 48 * 4 + 2 * 4 * 4 * 9
    # One 2× step of one 2×3 channel: 4 taps × (2×6 + 4×6) outputs.
    assert upsampling_macs([(4, 6), (2, 3)], 4) == 4 * (2 * 6 + 4 * 6)
    parts = decoder_macs("paper", 512, 768)
    assert parts.total == parts.arm + parts.upsampling + parts.synthesis
    assert parts.pixels == 512 * 768


def test_wide_preset_counts_every_channel() -> None:
    """wide: 4 channels at level 0 → ARM on 4·h·w + the coarser values, synthesis input 10."""
    wide = get_preset("wide")
    parts = decoder_macs("wide", 512, 768)
    paper = decoder_macs("paper", 512, 768)
    assert parts.arm - paper.arm == 3 * 64 * 96 * arm_macs_per_value(wide)
    assert synthesis_macs_per_latent_pixel(wide, 7) == 10 * 48 + 48 * 4 + 2 * 4 * 4 * 9
    assert parts.upsampling == paper.upsampling  # the extra channels are not upsampled
    assert parts.per_pixel()["total"] <= 60  # the budget of the issue (VAE decoder ≈ 68 000)
    # Coarser levels with 2 channels each: every upsampling step moves twice the channels.
    assert upsampling_macs([(4, 6), (2, 3)], 4, [2, 2]) == 2 * 4 * (2 * 6 + 4 * 6)


def test_odd_sizes_are_padded_to_multiples_of_8() -> None:
    """A 1363-pixel side counts as 1368 pixels (latent 171)."""
    parts = decoder_macs("paper", 1363, 2048)
    assert (parts.height, parts.width) == (1368, 2048)


def _small_kl():
    """A small seeded AutoencoderKL (same structure as the tiny VAE)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=(8, 16, 32, 32),
                         down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4,
                         norm_num_groups=8, layers_per_block=1)


def test_vae_decoder_macs_meta_equals_real() -> None:
    """The meta-device count equals a count on the real weights."""
    from clric_utils.codec import macs

    vae = _small_kl().eval()
    meta = vae_decoder_macs_per_pixel(vae, 64, 96)
    z = torch.zeros(1, 4, 8, 12)
    with torch.no_grad():
        real = macs._count_conv_linear_macs(vae, z) / (64 * 96)
    assert meta == real


def test_taef2_decoder_count_equals_a_hand_count() -> None:
    """TAEF2's decoder, counted by hand per image pixel (3×3 convs of 64 channels: 36 864 MAC
    per output pixel; a block is three of them, plus 64·256 + 256·64 for its GroupNorm branch):
    at the latent's resolution (÷ 64) the 32→64 conv and three branched blocks; at 2× and 4×
    (÷ 16, ÷ 4) a conv and three blocks; at full size a conv, a block and the 64→3 conv."""
    from clric_utils.vae import load_vae

    conv, branch = 64 * 64 * 9, 2 * 64 * 256
    latent = (32 * 64 * 9 + 3 * (3 * conv + branch)) / 64
    twice, four_times = (conv + 3 * 3 * conv) / 16, (conv + 3 * 3 * conv) / 4
    full = conv + 3 * conv + 64 * 3 * 9
    hand = latent + twice + four_times + full
    assert hand == 271_392
    assert vae_decoder_macs_per_pixel(load_vae("taef2"), 512, 768) == hand


def test_sd_decoder_count_is_the_known_1_24_tmac() -> None:
    """SD's VAE decoder (built weightless on meta) costs ≈ 1.24 TMAC for 512×512."""
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        sd = AutoencoderKL(block_out_channels=(128, 256, 512, 512),
                           down_block_types=("DownEncoderBlock2D",) * 4,
                           up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4,
                           layers_per_block=2)
    total = vae_decoder_macs_per_pixel(sd, 512, 512) * 512 * 512
    assert abs(total / 1.24e12 - 1) < 0.02


def test_macs_command_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``clric macs`` prints ours next to the paper's numbers (and the VAE column if asked)."""
    parser = argparse.ArgumentParser()
    macs_command.add_arguments(parser)
    assert macs_command.run(parser.parse_args(["--vae", "none"])) == 0
    out = capsys.readouterr().out
    assert "25.90" in out and "25.48" in out and "24.79" in out
    assert all(f" {name} " in out for name in ("paper", "wide", "lite"))  # every preset
    assert macs_command.run(parser.parse_args(["--vae", "tiny", "--preset", "lite",
                                               "--height", "64", "--width", "64"])) == 0
    out = capsys.readouterr().out
    assert "VAE dec (tiny)" in out and "64×64" in out
    assert macs_command.__doc__.splitlines()[0]
