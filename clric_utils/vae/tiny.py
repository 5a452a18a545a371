"""The ``tiny`` VAE: a small seeded random ``AutoencoderKL`` for plumbing tests.

Same interface and latent shape as Stable Diffusion's VAE (4 channels, /8), ~0.3 M parameters,
no training: its reconstructions are noise. The weights are filled parameter by parameter (in
sorted name order) from a private ``torch.Generator`` with a fixed seed, so they are identical
on every machine and every run and do not depend on, or disturb, the global torch RNG.
"""

from __future__ import annotations

import hashlib
import math

import torch

#: Seed of the weight generator; changing it changes every ``tiny`` latent.
TINY_SEED = 20250220

#: diffusers ``AutoencoderKL`` configuration of the ``tiny`` VAE (4 blocks → downsampling 8).
TINY_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 16, 32, 32),
    "layers_per_block": 1,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": 256,
}

#: 1 / RMS of the raw posterior means over the 24 Kodak images (measured once with
#: ``measure_scaling_factor``; fixed here so that it never depends on the data at hand).
#: Multiplying by it gives scaled latents of standard deviation ≈ 1, like SD's 0.18215.
TINY_SCALING_FACTOR = 1.5332


def _fill_parameters(model: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter from a generator seeded with ``seed`` (sorted name order)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if parameter.ndim == 1:
                # Biases start at zero, normalisation gains at one.
                parameter.fill_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
                continue
            fan_in = parameter[0].numel()
            bound = math.sqrt(3.0 / fan_in)  # variance 1/fan_in (LeCun uniform)
            values = torch.empty(parameter.shape, dtype=torch.float32)
            values.uniform_(-bound, bound, generator=generator)
            parameter.copy_(values)


def build_tiny_vae():
    """The seeded ``tiny`` ``AutoencoderKL`` (float32, eval mode, frozen)."""
    from diffusers import AutoencoderKL

    with torch.random.fork_rng(devices=[]):  # diffusers' default init draws from the global RNG
        model = AutoencoderKL(**TINY_CONFIG, scaling_factor=TINY_SCALING_FACTOR)
    _fill_parameters(model, TINY_SEED)
    model.eval().requires_grad_(False)
    return model


def state_dict_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over a model's state dict (names, shapes and float32 bytes, sorted by name)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def measure_scaling_factor(paths) -> float:
    """1 / RMS of the tiny VAE's raw posterior means over the images at ``paths``."""
    import torch.nn.functional as F

    from ..images import image_to_tensor, read_image

    model = build_tiny_vae()
    total, count = 0.0, 0
    with torch.no_grad():
        for path in paths:
            x = image_to_tensor(read_image(path))
            pad_h, pad_w = -x.shape[2] % 8, -x.shape[3] % 8
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            mean = model.encode(x).latent_dist.mean
            total += mean.double().pow(2).sum().item()
            count += mean.numel()
    return 1.0 / math.sqrt(total / count)
