"""Forged ``.clric`` files: headers a hostile writer may choose, with a valid CRC-32.

``forge_file`` packs any image size, preset, VAE name, grid ranges and weight groups into a
well-formed header, fills the payloads (empty, zeros or random bytes) and appends the right
CRC, so that only the decoder's own checks (and the memory budget) can object. A file with
every weight group at magnitude 0 and every grid range of one value has empty payloads: the
99-byte "16384×6000" file of issue 15 is ``forge_file(6000, 16384)``.
"""

from __future__ import annotations

import numpy as np

from clric_utils.bitstream.header import Header, WeightGroup, finish_file, pack_header
from clric_utils.bitstream.rules import (
    NETWORKS,
    coding_groups,
    latent_grid_shapes,
    parameter_layout,
)
from clric_utils.codec.arch import ArchConfig, get_preset


def forge_file(
    height: int,
    width: int,
    preset: str = "paper",
    vae_name: str = "tiny",
    vae_scaling_factor: float = 1.5332,
    grid_ranges: list[tuple[int, int]] | None = None,
    magnitudes: list[int] | None = None,
    scales: list[float] | None = None,
    payload_words: tuple[int, int] = (0, 0),
    rng: np.random.Generator | None = None,
    arch: ArchConfig | None = None,
) -> bytes:
    """A ``.clric`` file whose header says exactly what the arguments say (CRC included).

    Args:
        height, width: the claimed image size (1…16384 each).
        preset, vae_name, vae_scaling_factor: the claimed encoder settings.
        grid_ranges: (min, max) per grid level, finest first (default: all (0, 0)).
        magnitudes, scales: per weight group (default: magnitude 0, scale 1).
        payload_words: 32-bit words of the weights and grids payloads.
        rng: fills the payloads with random bytes (default: zeros).
        arch: the claimed architecture (default: the preset's, for 4 latent channels), e.g. a
            synthesis far heavier than any preset's (a decode-work bomb).
    """
    arch = arch or get_preset(preset)
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    groups = coding_groups(parameter_layout(arch, len(shapes)))
    magnitudes = magnitudes or [0] * len(groups)
    scales = scales or [1.0] * len(groups)
    header = Header(
        image_height=height, image_width=width, vae_name=vae_name,
        vae_scaling_factor=vae_scaling_factor, preset=preset, arch=arch, lmbda=1e-3,
        estimated_bits=0.0, exponents={network: (8, 8) for network in NETWORKS},
        weight_groups=[WeightGroup(network, kind, scale, magnitude) for (network, kind), scale,
                       magnitude in zip(groups, scales, magnitudes, strict=True)],
        grid_ranges=grid_ranges or [(0, 0)] * len(shapes),
        weights_bytes=4 * payload_words[0], grids_bytes=4 * payload_words[1],
    )

    def payload(words: int) -> bytes:
        if rng is None:
            return bytes(4 * words)
        return rng.integers(0, 256, 4 * words, dtype=np.uint8).tobytes()

    return finish_file(pack_header(header), payload(payload_words[0]), payload(payload_words[1]))


def forge_model_file(
    height: int,
    width: int,
    rng: np.random.Generator,
    preset: str = "paper",
    vae_name: str = "tiny",
    vae_scaling_factor: float = 1.5332,
    max_grid_span: int = 2047,
    max_weight: int = 255,
) -> bytes | None:
    """A *correctly coded* file of random integer grids and network parameters.

    Unlike ``forge_file``'s random payloads (which the range decoder mostly rejects), this
    file's payloads decode, so the fixed-point decoder and the VAE meet wild parameters:
    random exponents, weights up to ``max_weight``, grids spanning up to ``max_grid_span``.
    None when the writer itself refuses the draw (fixed-point overflow, a too wide grid).
    """
    from clric_utils.bitstream.encode import encode_integers
    from clric_utils.bitstream.rules import EXPONENT_MAX, EXPONENT_MIN
    from clric_utils.errors import ParameterError

    arch = get_preset(preset)
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    grids = []
    for level, shape in enumerate(shapes):
        low = int(rng.integers(-1000, 1000))
        span = int(rng.integers(0, max_grid_span + 1)) if rng.random() < 0.5 else 3
        channels = arch.channels_of_level(level)
        grids.append(rng.integers(low, low + span + 1, (channels, *shape), dtype=np.int64))
    layout = parameter_layout(arch, len(shapes))
    values = {f"{spec.network}.{spec.name}": rng.integers(-max_weight, max_weight + 1,
                                                         spec.shape, dtype=np.int64)
              for spec in layout}
    exponents = {network: tuple(int(e) for e in rng.integers(EXPONENT_MIN, EXPONENT_MAX + 1, 2))
                 for network in NETWORKS}
    try:
        encoded = encode_integers(
            grids, values, exponents, arch, image_size=(height, width), vae_name=vae_name,
            vae_scaling_factor=vae_scaling_factor, preset=preset, lmbda=1e-3,
            estimated_bits=0.0,
        )
    except ParameterError:
        return None
    return encoded.data


def n_grid_levels(height: int, width: int, preset: str = "paper") -> int:
    """How many grid levels a file of this size and preset has (entries of ``grid_ranges``)."""
    return len(latent_grid_shapes(height, width, get_preset(preset).n_levels))


def n_weight_groups(height: int, width: int, preset: str = "paper") -> int:
    """How many weight groups a file of this size and preset has (entries of ``magnitudes``)."""
    arch = get_preset(preset)
    return len(coding_groups(parameter_layout(arch, n_grid_levels(height, width, preset))))
