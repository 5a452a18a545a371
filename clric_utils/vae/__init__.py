"""Frozen pretrained VAEs: images ↔ scaled latents (``load_vae("house")``, ``load_vae("sd")``…)."""

from .latents import FrozenVae
from .loading import clear_vae_cache, load_vae
from .registry import VAE_NAMES, VAES, VaeSpec

__all__ = ["VAE_NAMES", "VAES", "FrozenVae", "VaeSpec", "clear_vae_cache", "load_vae"]
