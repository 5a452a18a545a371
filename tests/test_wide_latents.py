"""Latents of any width: presets sized to the VAE, the version-3 header, the fit's distortion."""

from __future__ import annotations

import struct
import zlib

import pytest
import torch
import torch.nn.functional as F

from clric_utils.bitstream import encode_model, parse_header
from clric_utils.bitstream.header import pack_header
from clric_utils.bitstream.rules import CHANNEL_LIMITS, file_version
from clric_utils.codec.arch import PRESETS, ArchConfig, get_preset, parse_synthesis
from clric_utils.codec.distortion import LATENT_MSE, LatentMSE, weighted_latent_mse
from clric_utils.codec.schedule import short_effort
from clric_utils.codec.train import fit
from clric_utils.errors import ClricFormatError, ParameterError


def test_presets_for_four_channels_are_unchanged():
    """The 4-channel presets are the architectures of package 0.2."""
    paper = "48-1-linear-relu,4-1-linear-none,4-3-residual-relu,4-3-residual-none"
    assert PRESETS["paper"] == ArchConfig(synthesis=parse_synthesis(paper))
    assert PRESETS["wide"] == ArchConfig(level_channels=(4,))
    assert PRESETS["slim"] == PRESETS["wide"]
    assert get_preset("paper", 4) is PRESETS["paper"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_sized_to_the_latent(name):
    arch = get_preset(name, 32)
    assert arch.latent_channels == 32
    assert arch.synthesis[-1].out_channels == 32
    assert file_version(arch) == 3
    assert file_version(get_preset(name)) == 2


def test_wide_holds_every_latent_channel_and_slim_narrows():
    wide, slim = get_preset("wide", 32), get_preset("slim", 32)
    assert wide.channels_of_level(0) == 32
    assert slim.channels_of_level(0) == 8
    assert slim.synthesis_string() == ("48-1-linear-relu,16-1-linear-none,16-3-residual-relu,"
                                       "16-3-residual-none,32-1-linear-none")
    # The bottleneck is what makes slim's networks cheap to send at low rates.
    def weights(arch):
        from clric_utils.bitstream.rules import parameter_layout

        return sum(s.size for s in parameter_layout(arch, 7) if s.network == "synthesis")

    assert weights(slim) < weights(get_preset("paper", 32)) / 3


@pytest.mark.parametrize("channels", [0, 65])
def test_latent_widths_beyond_the_format_are_refused(channels):
    with pytest.raises(ParameterError, match="channels"):
        get_preset("wide", channels)


def _file(arch: ArchConfig, seed: int = 0) -> bytes:
    from clric_utils.codec.model import OverfittedLatentModel
    from clric_utils.codec.weight_quant import quantize_network_weights

    torch.manual_seed(seed)
    model = OverfittedLatentModel(4, 6, arch)
    latent = torch.randn(1, arch.latent_channels, 4, 6)
    with torch.no_grad():
        exponents = quantize_network_weights(model, latent, 1.0, 32 * 48)
    return encode_model(model, exponents, image_size=(32, 48), vae_name="taef2",
                        vae_scaling_factor=1.0, preset="slim", lmbda=1.0,
                        estimated_bits=1.0).data


def test_a_32_channel_file_is_version_3_and_round_trips():
    from clric_utils.bitstream import decode_file

    arch = get_preset("slim", 32)
    data = _file(arch)
    header = parse_header(data)
    assert header.version == 3 and header.arch == arch
    assert decode_file(data).y_hat.shape == (1, 32, 4, 6)


def test_version_limits_hold_on_both_sides():
    arch = get_preset("slim", 32)
    header = parse_header(_file(arch))
    header.version = 2  # packed as version 2 by hand: the parser refuses 32 channels there
    forged = pack_header(header) + _file(arch)[header.header_bytes:]
    forged = forged[:-4] + struct.pack("<I", zlib.crc32(forged[:-4]) & 0xFFFFFFFF)
    with pytest.raises(ClricFormatError, match="32 latent channels"):
        parse_header(forged)
    assert CHANNEL_LIMITS[3] == (64, 64)
    # A version-3 header claiming 65 latent channels is refused (CRC fixed so it is reached).
    data = bytearray(_file(arch))
    position = data.index(bytes([7, 16, 2, 4, 32]))  # levels, context, hidden, taps, channels
    data[position + 4] = 65
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    with pytest.raises(ClricFormatError, match="65 latent channels"):
        parse_header(bytes(data))


def test_latent_mse_is_the_old_loss_and_weights_are_normalised():
    torch.manual_seed(0)
    a, b = torch.randn(1, 4, 8, 12), torch.randn(1, 4, 8, 12)
    assert torch.equal(LATENT_MSE(a, b), F.mse_loss(a, b))
    assert LATENT_MSE.name == "latent"
    uniform = weighted_latent_mse([3.0] * 4)
    assert uniform.channel_weights == (1.0,) * 4
    assert torch.allclose(uniform(a, b), F.mse_loss(a, b))
    weighted = weighted_latent_mse([1.0, 1.0, 1.0, 5.0])
    assert weighted.name == "weighted-latent"
    assert weighted.channel_weights == (0.5, 0.5, 0.5, 2.5)
    per_channel = ((a - b) ** 2).mean(dim=(0, 2, 3))
    expected = (per_channel * torch.tensor(weighted.channel_weights)).mean()
    assert torch.allclose(weighted(a, b), expected)


@pytest.mark.parametrize("weights", [[], [1.0, 0.0], [1.0, float("nan")], [1.0, float("inf")]])
def test_bad_channel_weights_are_refused(weights):
    with pytest.raises(ParameterError):
        LatentMSE(tuple(weights))


def test_fit_on_a_32_channel_latent_uses_the_sized_preset_and_the_distortion():
    torch.manual_seed(0)
    latent = torch.randn(1, 32, 4, 6)
    weights = [1.0] * 31 + [20.0]
    plain = fit(latent, (32, 48), 0.01, preset="slim", effort=short_effort(30), progress=False)
    aimed = fit(latent, (32, 48), 0.01, preset="slim", effort=short_effort(30), progress=False,
                distortion=weighted_latent_mse(weights))
    assert plain.model.arch == get_preset("slim", 32)
    assert (plain.distortion, aimed.distortion) == ("latent", "weighted-latent")
    assert plain.distortion_value == pytest.approx(plain.latent_mse)

    def error_of_last_channel(result):
        with torch.no_grad():
            y_hat = result.model("hard").y_hat
        return float(((y_hat - latent)[:, -1] ** 2).mean())

    # Weighing the last channel 20× makes the fit reproduce it better.
    assert error_of_last_channel(aimed) < error_of_last_channel(plain)


def test_compress_refuses_unknown_or_unavailable_tunes():
    import numpy as np

    from clric_utils.api import compress

    image = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(ParameterError, match="unknown tune"):
        compress(image, vae="tiny", lmbda=1.0, tune="pixels")
    with pytest.raises(ParameterError, match="no per-channel sensitivity"):
        compress(image, vae="tiny", lmbda=1.0, tune="weighted-latent")
