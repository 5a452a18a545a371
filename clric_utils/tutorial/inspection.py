"""Looking inside a fitted model or a file: grid probabilities, bits per part, MAC counts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from diffusers.utils import logging as diffusers_logging

from ..bitstream.fixed_point import grid_contexts, integer_arm
from ..bitstream.rules import MU_STEPS
from ..bitstream.tables import scale_value
from ..codec.arm import gather_context
from ..codec.laplace import LOG_SCALE_MAX, LOG_SCALE_MIN, rate_bits
from ..codec.macs import PAPER_TABLE_1, decoder_macs, vae_decoder_macs_per_pixel


@torch.no_grad()
def grid_probabilities(model, level: int = 0, channel: int = 0) -> dict[str, np.ndarray]:
    """For one channel of grid ``level`` of a fitted model: its integer values and, per value,
    the ARM's Laplace location μ, scale b, probability P(v) and rate −log2 P(v) (float model)."""
    grids = model.quantized_grids("hard")
    if not 0 <= level < len(grids):
        raise ValueError(f"level must be in 0 … {len(grids) - 1}, got {level}")
    if not 0 <= channel < grids[level].shape[1]:
        raise ValueError(f"level {level} has channels 0 … {grids[level].shape[1] - 1}")
    grid = grids[level][:, channel : channel + 1]
    mu, log_scale = model.arm(gather_context(grid, model.arm.offsets))
    bits = rate_bits(grid.reshape(-1), mu, log_scale)
    shape = grid.shape[-2:]
    scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    return {
        "values": grid.reshape(shape).numpy().astype(np.int64),
        "mu": mu.reshape(shape).numpy(),
        "scale": scale.reshape(shape).numpy(),
        "bits": bits.reshape(shape).numpy(),
    }


@torch.no_grad()
def grid_bits_table(model) -> pd.DataFrame:
    """Per grid level and channel: size, value range, number of non-zeros and estimated bits."""
    rows = []
    for level, channels in enumerate(model.grids.channels):
        for channel in range(channels):
            info = grid_probabilities(model, level, channel)
            values = info["values"]
            rows.append({"level": level, "channel": channel,
                         "shape": f"{values.shape[0]}×{values.shape[1]}",
                         "values": values.size, "min": int(values.min()),
                         "max": int(values.max()), "non-zero": int((values != 0).sum()),
                         "bits": float(info["bits"].sum())})
    frame = pd.DataFrame(rows)
    frame["bits/value"] = frame["bits"] / frame["values"]
    return frame


def integer_arm_parameters(decoded, level: int = 0, channel: int = 0) -> dict[str, np.ndarray]:
    """The decoder's table indices for one channel of grid ``level`` of a decoded file, as (μ, b).

    The integer ARM gives μ on a grid of 1/16 and log b as one of 128 table entries; these
    are the parameters the range coder really used.
    """
    grid = decoded.grids[level][channel]
    mu_idx, scale_idx = integer_arm(grid_contexts(grid, decoded.networks.arm.offsets),
                                    decoded.networks.arm)
    table = {int(i): scale_value(int(i)) for i in np.unique(scale_idx)}
    return {"mu": (mu_idx / MU_STEPS).reshape(grid.shape),
            "scale": np.vectorize(table.get)(scale_idx).reshape(grid.shape).astype(np.float64)}


def file_breakdown(result) -> pd.DataFrame:
    """Bytes of each part of a ``.clric`` file (``EncodeResult``) next to the model's estimate."""
    header = result.header
    fit = result.fit
    rows = [
        ("header", header.header_bytes, math.nan),
        ("network weights", header.weights_bytes, fit.estimated_weight_bits / 8),
        ("latent grids", header.grids_bytes, fit.estimated_latent_bits / 8),
        ("CRC", header.total_bytes - header.header_bytes - header.weights_bytes
         - header.grids_bytes, math.nan),
    ]
    frame = pd.DataFrame(rows, columns=["part", "bytes", "estimated bytes"])
    total = pd.DataFrame([("total", len(result.data), fit.estimated_bits / 8)],
                         columns=frame.columns)
    return pd.concat([frame, total], ignore_index=True)


def macs_table(preset: str = "paper", vae=None,
               sizes: Sequence[Sequence[int]] | None = None) -> pd.DataFrame:
    """MAC per image pixel of f_ψ (per part) for image sizes, next to the paper's Table 1
    and (when ``vae`` is given) the VAE decoder's."""
    sizes = [tuple(int(s) for s in size) for size in (sizes or PAPER_TABLE_1)]
    rows = []
    for height, width in dict.fromkeys(sizes):
        parts = decoder_macs(preset, height, width).per_pixel()
        row = {"image": f"{height}×{width}", "latent": f"{math.ceil(height / 8)}×"
               f"{math.ceil(width / 8)}", **{k: round(v, 2) for k, v in parts.items()},
               "paper total": PAPER_TABLE_1.get((height, width), math.nan)}
        if vae is not None:
            level = diffusers_logging.get_verbosity()
            diffusers_logging.set_verbosity_error()  # config notes of the shape-only copy
            try:
                row["VAE decoder"] = round(vae_decoder_macs_per_pixel(vae, height, width))
            finally:
                diffusers_logging.set_verbosity(level)
        rows.append(row)
    return pd.DataFrame(rows)
