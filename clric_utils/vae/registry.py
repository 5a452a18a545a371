"""The VAEs the project knows by short name, where their weights live and how to scale them.

Scaling factors: an ``AutoencoderKL`` posterior mean is multiplied by ``scaling_factor``
(SD 0.18215, SD-XL 0.13025) so that the latent has roughly unit variance. TAESD / TAESD-XL
(diffusers ``AutoencoderTiny``) have no scaling factor: their encoders output latents that are
*already* in SD's (SD-XL's) scaled space, so their factor is 1.0 (as in their diffusers
configs). ``house`` is an ``AutoencoderTiny`` trained by this project whose raw latents are not
pre-scaled: its factor (1 / RMS of raw latents on the training photos) is stored in its
``config.json`` and read from there. ``tiny`` uses the constant measured in ``tiny.py``.
``taef2`` (our own model code, ``taef2.py``) needs none: its 32-channel latents have an RMS of
≈ 0.82 on Kodak as they come, and the official code uses them unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..paths import PACKAGE_DIR
from .tiny import TINY_SCALING_FACTOR

#: Folder of the ``house`` weights shipped inside the package (diffusers format, fp16).
HOUSE_DIR = PACKAGE_DIR / "weights" / "house"
#: Folder of the ``taef2`` weights shipped inside the package (the official fp16 files).
TAEF2_DIR = PACKAGE_DIR / "weights" / "taef2"


@dataclass(frozen=True)
class VaeSpec:
    """Where one VAE's weights come from and how its latents are scaled."""

    name: str
    #: Hugging Face model id, or None for weights that ship with / are built by the package.
    repo_id: str | None
    #: Folder inside the Hugging Face repository holding the VAE (``""`` for the root).
    subfolder: str
    #: ``"kl"`` (diffusers ``AutoencoderKL``), ``"tiny"`` (diffusers ``AutoencoderTiny``) or
    #: ``"taef2"`` (``taef2.Taef2``, this package's code).
    kind: str
    #: Factor applied to latents after encoding; None: read ``scaling_factor`` from config.json.
    scaling_factor: float | None
    #: Precision the model runs in (all of ours run in float32 on the CPU).
    dtype: str = "float32"
    #: Approximate download size of the files ``load_vae`` fetches, in MB (0: nothing to fetch).
    download_mb: float = 0.0
    description: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        """Repository paths ``load_vae`` needs: config.json and the safetensors weights."""
        prefix = f"{self.subfolder}/" if self.subfolder else ""
        return (f"{prefix}config.json", f"{prefix}diffusion_pytorch_model.safetensors")


VAES: dict[str, VaeSpec] = {
    spec.name: spec
    for spec in (
        VaeSpec(
            "sd",
            "stabilityai/sd-vae-ft-mse",
            "",
            "kl",
            0.18215,
            download_mb=335,
            description="Stable Diffusion 1.x VAE, decoder fine-tuned for MSE (the paper's SD).",
        ),
        VaeSpec(
            "sd-in",
            "stable-diffusion-v1-5/stable-diffusion-inpainting",
            "vae",
            "kl",
            0.18215,
            download_mb=335,
            description="VAE of the Stable Diffusion 1.5 inpainting model (the paper's SD-In).",
        ),
        VaeSpec(
            "sdxl",
            "stabilityai/sdxl-vae",
            "",
            "kl",
            0.13025,
            download_mb=335,
            description="Stable Diffusion XL VAE, run in float32 (it overflows in float16).",
        ),
        VaeSpec(
            "taesd",
            "madebyollin/taesd",
            "",
            "tiny",
            1.0,
            download_mb=10,
            description="TAESD: tiny distilled SD VAE, latents already in SD's scaled space.",
        ),
        VaeSpec(
            "taesdxl",
            "madebyollin/taesdxl",
            "",
            "tiny",
            1.0,
            download_mb=10,
            description="TAESD-XL: tiny distilled SD-XL VAE, latents in SD-XL's scaled space.",
        ),
        VaeSpec(
            "house",
            None,
            "",
            "tiny",
            None,
            description="Small AutoencoderTiny trained by this project; ships in the package.",
        ),
        VaeSpec(
            "taef2",
            "madebyollin/taesd",
            "",
            "taef2",
            1.0,
            download_mb=5.4,
            description="TAEF2: tiny autoencoder distilled from FLUX.2's VAE (32 channels, /8); "
            "perceptual; ships in the package (MIT).",
        ),
        VaeSpec(
            "tiny",
            None,
            "",
            "kl",
            TINY_SCALING_FACTOR,
            description="Seeded random AutoencoderKL for plumbing tests; pictures are noise.",
        ),
    )
}

#: Short names accepted by ``load_vae``.
VAE_NAMES: tuple[str, ...] = tuple(VAES)


def house_dir() -> Path:
    """Folder of the shipped ``house`` weights (may be absent in a development checkout)."""
    return HOUSE_DIR


def spec_for_repo(repo_id: str, subfolder: str | None = None) -> VaeSpec:
    """The registered spec with this Hugging Face id, or a generic one (kind/scale from config)."""
    for spec in VAES.values():
        if spec.repo_id == repo_id and subfolder in (None, spec.subfolder):
            return spec
    return VaeSpec(repo_id, repo_id, subfolder or "", "", None, description="Hugging Face VAE")
