"""Writing a ``.clric`` file from a trained, quantized OverfittedLatentModel."""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..codec.arch import ArchConfig
from ..errors import ParameterError
from .fixed_point import (
    FixedPointOverflow,
    IntegerNetworks,
    integer_decoder_y_hat,
    network_integers,
    networks_from_values,
)
from .grids_coding import encode_grids
from .header import (
    Header,
    finish_file,
    image_size_problem,
    pack_header,
    to_f32,
)
from .rules import (
    EXPONENT_MAX,
    EXPONENT_MIN,
    MAX_GRID_RANGE,
    MAX_GRID_VALUE,
    MAX_WEIGHT_MAGNITUDE,
    NETWORKS,
    file_version,
    latent_grid_shapes,
    level_channels,
    parameter_layout,
)
from .weights_coding import encode_weights


@dataclass
class EncodedFile:
    """A written ``.clric`` file and what the decoder will rebuild from it."""

    data: bytes
    header: Header
    y_hat: np.ndarray  # 1 × C × h × w float32: the integer path's ŷ, identical in the decoder
    grids: list[np.ndarray]  # integer levels, finest first, c × h × w each
    networks: IntegerNetworks
    weights_bits: int  # payload sizes, in bits
    grids_bits: int


def integer_grids(model: torch.nn.Module) -> list[np.ndarray]:
    """The hard-rounded levels (finest first, c × h × w) as int64 arrays, each spanning < 2048."""
    grids = []
    for value in model.quantized_grids("hard"):
        grid = value.detach().to("cpu", torch.float64).numpy()[0]
        grid = np.rint(grid).astype(np.int64)
        lo = int(grid.min())
        if int(grid.max()) - lo >= MAX_GRID_RANGE:
            # Never seen in practice (values are ≈ ±50); clipping keeps the file valid and the
            # encoder's ŷ is computed from the clipped grid, so ŷ still matches the decoder.
            warnings.warn(f"grid values span more than {MAX_GRID_RANGE}; clipped", stacklevel=2)
            centre = int(np.median(grid))
            grid = np.clip(grid, centre - MAX_GRID_RANGE // 2, centre + MAX_GRID_RANGE // 2 - 1)
        grids.append(grid)
    return grids


def encode_integers(
    grids: list[np.ndarray],
    values: dict[str, np.ndarray],
    exponents: dict[str, tuple[int, int]],
    arch: ArchConfig,
    *,
    image_size: tuple[int, int],
    vae_name: str,
    vae_scaling_factor: float,
    preset: str,
    lmbda: float,
    estimated_bits: float,
) -> EncodedFile:
    """Write a file from integer levels (finest first, c × h × w) and network parameters."""
    height, width = (int(side) for side in image_size)
    problem = image_size_problem(height, width)  # a file (and its decoder) must hold it
    if problem:
        raise ParameterError(f"cannot encode: {problem}")
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    expected = [(c, *shape) for c, shape in zip(level_channels(arch, len(shapes)), shapes,
                                                 strict=True)]
    grids = [np.asarray(g, dtype=np.int64) for g in grids]
    if [g.shape for g in grids] != expected:
        raise ParameterError(f"grid shapes {[g.shape for g in grids]} do not match {expected}")
    exponents = {n: (int(exponents[n][0]), int(exponents[n][1])) for n in NETWORKS}
    for network, pair in exponents.items():
        if not all(EXPONENT_MIN <= e <= EXPONENT_MAX for e in pair):
            raise ParameterError(f"{network} exponents {pair} outside "
                                 f"[{EXPONENT_MIN}, {EXPONENT_MAX}]")
    layout = parameter_layout(arch, len(shapes))
    for spec in layout:
        array = values[f"{spec.network}.{spec.name}"]
        if tuple(array.shape) != spec.shape:
            raise ParameterError(f"{spec.network}.{spec.name} has shape {array.shape}, "
                                 f"expected {spec.shape}")
        # max/min, not np.abs: np.abs of the most negative int64 is negative.
        if array.size and (int(array.max()) > MAX_WEIGHT_MAGNITUDE
                           or int(array.min()) < -MAX_WEIGHT_MAGNITUDE):
            raise ParameterError(f"{spec.network}.{spec.name}: quantized values beyond "
                                 f"±{MAX_WEIGHT_MAGNITUDE}; use a coarser exponent")
    networks = networks_from_values(arch, len(shapes), values, exponents)
    ranges = [(int(g.min()), int(g.max())) for g in grids]
    if any(abs(lo) > MAX_GRID_VALUE or abs(hi) > MAX_GRID_VALUE for lo, hi in ranges):
        raise ParameterError(f"grid values beyond ±{MAX_GRID_VALUE}")
    for level, (lo, hi) in enumerate(ranges):
        if hi - lo >= MAX_GRID_RANGE:
            raise ParameterError(f"grid {level} spans {hi - lo + 1} values [{lo}, {hi}]; "
                                 f"a file holds at most {MAX_GRID_RANGE} per grid")
    version = file_version(arch)
    try:
        y_hat = integer_decoder_y_hat(grids, networks, arch)
        grids_payload = encode_grids(grids, ranges, networks.arm, version)
    except FixedPointOverflow as error:
        raise ParameterError(f"network parameters too large for the fixed-point decoder: "
                             f"{error}") from None
    groups, weights_payload = encode_weights(values, layout)
    header = Header(
        image_height=height,
        image_width=width,
        vae_name=vae_name,
        vae_scaling_factor=to_f32(vae_scaling_factor),
        preset=preset,
        arch=arch,
        lmbda=to_f32(lmbda),
        estimated_bits=to_f32(estimated_bits),
        exponents=exponents,
        weight_groups=groups,
        grid_ranges=ranges,
        weights_bytes=len(weights_payload),
        grids_bytes=len(grids_payload),
        version=version,
    )
    try:
        blob = pack_header(header)
    except (ValueError, struct.error) as error:  # e.g. a VAE name longer than 255 bytes
        raise ParameterError(f"cannot write the header: {error}") from None
    data = finish_file(blob, weights_payload, grids_payload)
    return EncodedFile(
        data, header, y_hat, grids, networks, 8 * len(weights_payload), 8 * len(grids_payload)
    )


def encode_model(
    model: torch.nn.Module,
    exponents: dict[str, tuple[int, int]],
    *,
    image_size: tuple[int, int],
    vae_name: str,
    vae_scaling_factor: float,
    preset: str,
    lmbda: float,
    estimated_bits: float,
) -> EncodedFile:
    """Write a file from an OverfittedLatentModel whose network parameters are dyadic."""
    try:
        values = network_integers(model, exponents)
    except ValueError as error:
        raise ParameterError(f"cannot write the networks: {error}") from None
    return encode_integers(
        integer_grids(model), values, exponents, model.arch,
        image_size=image_size, vae_name=vae_name, vae_scaling_factor=vae_scaling_factor,
        preset=preset, lmbda=lmbda, estimated_bits=estimated_bits,
    )
