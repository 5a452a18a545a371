"""The VAEs the project knows by short name, where their weights live and how to scale them.

Scaling factors: an ``AutoencoderKL`` posterior mean is multiplied by ``scaling_factor``
(SD 0.18215, SD-XL 0.13025) so that the latent has roughly unit variance. TAESD / TAESD-XL
(diffusers ``AutoencoderTiny``) have no scaling factor: their encoders output latents that are
*already* in SD's (SD-XL's) scaled space, so their factor is 1.0 (as in their diffusers
configs). ``house`` is an ``AutoencoderTiny`` trained by this project whose raw latents are not
pre-scaled: its factor (1 / RMS of raw latents on the training photos) is stored in its
``config.json`` and read from there. ``tiny`` uses the constant measured in ``tiny.py``.
``taef2`` (our own model code, ``taef2.py``) needs none: its 32-channel latents have an RMS of
≈ 0.82 on Kodak as they come, and the official code uses them unscaled. ``taef2-c4``
(``taef2_c4.py``) normalises its 4 channels to zero mean and unit variance on the training
photos itself, so its factor is 1.0.

``decoder_mac_per_pixel``: multiply-accumulates of the VAE decoder per image pixel, counted by
``codec.macs.vae_decoder_macs_per_pixel`` (``tests/test_work_budget.py`` checks every value),
so that ``clric info`` states a file's whole decode cost from its header alone.
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
#: Folder of the ``taef2-c4`` weights shipped inside the package (its bottleneck and decoder).
TAEF2_C4_DIR = PACKAGE_DIR / "weights" / "taef2_c4"


@dataclass(frozen=True)
class VaeSpec:
    """Where one VAE's weights come from and how its latents are scaled."""

    name: str
    #: Hugging Face model id, or None for weights that ship with / are built by the package.
    repo_id: str | None
    #: Folder inside the Hugging Face repository holding the VAE (``""`` for the root).
    subfolder: str
    #: ``"kl"`` (diffusers ``AutoencoderKL``), ``"tiny"`` (diffusers ``AutoencoderTiny``),
    #: ``"taef2"`` (``taef2.Taef2``) or ``"taef2-c4"`` (``taef2_c4.Taef2C4``, this package's).
    kind: str
    #: Factor applied to latents after encoding; None: read ``scaling_factor`` from config.json.
    scaling_factor: float | None
    #: Precision the model runs in (all of ours run in float32 on the CPU).
    dtype: str = "float32"
    #: Approximate download size of the files ``load_vae`` fetches, in MB (0: nothing to fetch).
    download_mb: float = 0.0
    description: str = ""
    #: MACs of the decoder per image pixel (0: unknown; see the module doc).
    decoder_mac_per_pixel: float = 0.0

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
            decoder_mac_per_pixel=4730528.25,
        ),
        VaeSpec(
            "sd-in",
            "stable-diffusion-v1-5/stable-diffusion-inpainting",
            "vae",
            "kl",
            0.18215,
            download_mb=335,
            description="VAE of the Stable Diffusion 1.5 inpainting model (the paper's SD-In).",
            decoder_mac_per_pixel=4730528.25,
        ),
        VaeSpec(
            "sdxl",
            "stabilityai/sdxl-vae",
            "",
            "kl",
            0.13025,
            download_mb=335,
            description="Stable Diffusion XL VAE, run in float32 (it overflows in float16).",
            decoder_mac_per_pixel=4730528.25,
        ),
        VaeSpec(
            "taesd",
            "madebyollin/taesd",
            "",
            "tiny",
            1.0,
            download_mb=10,
            description="TAESD: tiny distilled SD VAE, latents already in SD's scaled space.",
            decoder_mac_per_pixel=269604.0,
        ),
        VaeSpec(
            "taesdxl",
            "madebyollin/taesdxl",
            "",
            "tiny",
            1.0,
            download_mb=10,
            description="TAESD-XL: tiny distilled SD-XL VAE, latents in SD-XL's scaled space.",
            decoder_mac_per_pixel=269604.0,
        ),
        VaeSpec(
            "house",
            None,
            "",
            "tiny",
            None,
            description="Small AutoencoderTiny trained by this project; ships in the package.",
            decoder_mac_per_pixel=67842.0,
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
            decoder_mac_per_pixel=271392.0,
        ),
        VaeSpec(
            "taef2-c4",
            None,
            "",
            "taef2-c4",
            1.0,
            description="TAEF2 squeezed to SD's latent shape (4 channels, /8) by a learned "
            "bottleneck, decoder fine-tuned; trained by this project; ships in the package.",
            decoder_mac_per_pixel=275172.0,
        ),
        VaeSpec(
            "tiny",
            None,
            "",
            "kl",
            TINY_SCALING_FACTOR,
            description="Seeded random AutoencoderKL for plumbing tests; pictures are noise.",
            decoder_mac_per_pixel=14954.25,
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
