"""The high-level API: image → ``.clric`` bytes → image, and what lies in between.

    result = compress("kodim23.png", vae="house", lmbda=1)
    open("kodim23.clric", "wb").write(result.data)
    image = decompress(result.data)            # 1×3×H×W in [-1, 1]
    latent = decompress_latent(result.data)    # ŷ only: no VAE needed

The encoder's ``y_hat`` is the integer decoder's ŷ, so ``decompress_latent(data).y_hat`` equals
``compress(...).y_hat`` bit for bit, on any machine and with any thread count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .bitstream import Header, decode_file, encode_model, parse_header
from .bitstream.decode import DecodedFile
from .bitstream.encode import check_image_size
from .codec.arch import DEFAULT_PRESET
from .codec.schedule import DEFAULT_EFFORT
from .devices import check_device
from .errors import ClricFormatError, ImageReadError, ParameterError

if TYPE_CHECKING:
    from .codec.model import OverfittedLatentModel
    from .codec.train import FitResult
    from .vae.latents import FrozenVae

#: What ``compress`` accepts as an image.
ImageInput = str | os.PathLike | np.ndarray | torch.Tensor


@dataclass
class EncodeResult:
    """A compressed image: the file's bytes and how they were obtained."""

    data: bytes  # the complete .clric file
    y_hat: torch.Tensor  # 1×4×h×w float32: the decoder's ŷ (integer path), bit-exact
    fit: FitResult  # the overfitted model (networks quantized)
    latent: torch.Tensor | None  # 1×4×h×w: the VAE latent y that was fitted (if known)
    bpp: float  # 8 · len(data) / (H · W): the real rate, header included
    estimated_bits: float  # the model's estimate (latents + weights), no header
    header_bytes: int

    @property
    def header(self) -> Header:
        """The file's header."""
        return parse_header(self.data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``data`` to ``path`` (folders are created); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path


@dataclass
class DecodedLatent:
    """What a ``.clric`` file decodes to before the VAE: ŷ and the header (and the integers)."""

    y_hat: torch.Tensor  # 1×4×h×w float32
    header: Header
    decoded: DecodedFile  # integer grids and networks, for inspection

    def model(self) -> OverfittedLatentModel:
        """The float OverfittedLatentModel the file describes (for inspection and plots)."""
        return self.decoded.to_model()


def _as_bytes(data: bytes | bytearray | memoryview | str | os.PathLike) -> bytes:
    """File contents: bytes as they are, or the bytes of the file at a path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        try:
            return Path(data).read_bytes()
        except OSError as error:
            raise ClricFormatError(f"{data}: cannot read ({error.strerror or error})") from None
    raise ClricFormatError(f"expected .clric bytes or a path, got {type(data).__name__}")


def _load_vae(vae: str | FrozenVae, device: str | torch.device) -> FrozenVae:
    """A FrozenVae from a name (or a FrozenVae as it is)."""
    if isinstance(vae, str):
        from .vae import load_vae

        return load_vae(vae, device)
    if not hasattr(vae, "encode") or not hasattr(vae, "scaling_factor"):
        raise ParameterError(f"vae must be a name or a FrozenVae, got {type(vae).__name__}")
    return vae


def _image_tensor(image: ImageInput) -> torch.Tensor:
    """The image as a 1×3×H×W float32 tensor in [-1, 1]."""
    from .images import image_to_tensor, read_image

    if isinstance(image, (str, os.PathLike)):
        return image_to_tensor(read_image(image))
    if isinstance(image, np.ndarray):
        try:
            return image_to_tensor(image)
        except ValueError as error:
            raise ImageReadError(f"bad image array: {error}") from None
    if isinstance(image, torch.Tensor):
        tensor = image[None] if image.ndim == 3 else image
        if tensor.ndim != 4 or tensor.shape[:2] != (1, 3) or not tensor.is_floating_point():
            raise ImageReadError(f"expected a 1×3×H×W float tensor, got {tuple(image.shape)}")
        if not torch.isfinite(tensor).all() or tensor.abs().max() > 1.0 + 1e-6:
            raise ImageReadError("image tensor values must lie in [-1, 1]")
        return tensor.detach().to("cpu", torch.float32)
    raise ImageReadError(
        f"expected an image path, uint8 array or tensor, got {type(image).__name__}"
    )


def write_fit(
    fit: FitResult, vae_name: str, vae_scaling_factor: float, latent: torch.Tensor | None = None
) -> EncodeResult:
    """Write the ``.clric`` file of a FitResult; return an EncodeResult."""
    encoded = encode_model(
        fit.model,
        fit.weight_exponents,
        image_size=tuple(fit.image_size),
        vae_name=vae_name,
        vae_scaling_factor=vae_scaling_factor,
        preset=fit.preset,
        lmbda=fit.lmbda,
        estimated_bits=fit.estimated_bits,
    )
    height, width = fit.image_size
    return EncodeResult(
        data=encoded.data,
        y_hat=torch.from_numpy(encoded.y_hat),
        fit=fit,
        latent=latent,
        bpp=8.0 * len(encoded.data) / (height * width),
        estimated_bits=float(fit.estimated_bits),
        header_bytes=encoded.header.header_bytes,
    )


def compress(
    image: ImageInput,
    vae: str | FrozenVae = "house",
    lmbda: float | None = None,
    target_bpp: float | None = None,
    preset: str = DEFAULT_PRESET,
    effort: str = DEFAULT_EFFORT,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> EncodeResult:
    """Compress an image (path, H×W×3 uint8 array or 1×3×H×W tensor in [-1, 1]).

    Exactly one of ``lmbda`` (the rate-distortion trade-off) and ``target_bpp`` (searched
    for with rate control, measuring the real file size) must be given. ``vae`` is a short
    name (``house``, ``sd``, ``tiny``, …) or a FrozenVae.
    """
    device = check_device(device)
    if (lmbda is None) == (target_bpp is None):
        raise ParameterError("give exactly one of lmbda and target_bpp")
    from .codec.train import fit as fit_latent

    x = _image_tensor(image)  # before loading the VAE: a bad image fails fast
    height, width = (int(side) for side in x.shape[-2:])
    check_image_size(height, width)  # before the fit: the file could not hold it
    vae = _load_vae(vae, device)
    latent = vae.encode(x).to("cpu")
    vae_name = str(vae.name)
    scaling = float(vae.scaling_factor)
    if lmbda is not None:
        result = fit_latent(latent, (height, width), lmbda, preset=preset, effort=effort,
                            seed=seed, device=device, progress=progress)
        return write_fit(result, vae_name, scaling, latent)

    from .codec.rate_control import fit_to_target_bpp

    def measure_bpp(candidate) -> float:
        return write_fit(candidate, vae_name, scaling).bpp

    found = fit_to_target_bpp(latent, (height, width), target_bpp, measure_bpp=measure_bpp,
                              preset=preset, effort=effort, seed=seed, device=device,
                              progress=progress)
    return write_fit(found, vae_name, scaling, latent)


def read_header(data: bytes | str | os.PathLike) -> Header:
    """The validated header of a ``.clric`` file (bytes or path); checks sizes and the CRC."""
    return parse_header(_as_bytes(data))


def decompress_latent(data: bytes | str | os.PathLike) -> DecodedLatent:
    """Decode ŷ (1×4×h×w) from a ``.clric`` file (bytes or path); no VAE needed."""
    decoded = decode_file(_as_bytes(data))
    return DecodedLatent(torch.from_numpy(decoded.y_hat), decoded.header, decoded)


def file_vae(
    header: Header, vae: str | FrozenVae | None = None, device: str | torch.device = "cpu"
) -> FrozenVae:
    """The VAE to decode a file with: ``vae`` if given, else the built-in one the file names.

    A file only selects VAEs by built-in short name: a file naming a folder or a Hugging Face
    id (one encoded with such a VAE) needs ``vae`` passed explicitly, so that opening a file
    never makes the decoder load or download a model chosen by whoever wrote the file.
    """
    device = check_device(device)
    if vae is None:
        from .vae import VAE_NAMES

        if header.vae_name not in VAE_NAMES:
            raise ParameterError(
                f"the file was encoded with VAE {header.vae_name!r}, which is not a built-in "
                f"name ({', '.join(VAE_NAMES)}); pass that VAE explicitly (--vae)"
            )
        vae = header.vae_name
    vae = _load_vae(vae, device)
    stored = header.vae_scaling_factor
    if abs(float(vae.scaling_factor) - stored) > 1e-4 * stored:  # float32 in the header
        raise ParameterError(
            f"the file was made with VAE scaling factor {stored:g} ({header.vae_name}); "
            f"{vae.name}'s is {vae.scaling_factor:g}"
        )
    channels = getattr(vae, "latent_channels", header.arch.latent_channels)
    if channels != header.arch.latent_channels:
        raise ParameterError(f"the file holds a {header.arch.latent_channels}-channel latent; "
                             f"{vae.name} expects {channels} channels")
    return vae


def decompress(
    data: bytes | str | os.PathLike,
    vae: str | FrozenVae | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Decode the image (1×3×H×W in [-1, 1]); the VAE named in the file unless ``vae`` is given."""
    device = check_device(device)
    latent = decompress_latent(data)
    header = latent.header
    vae = file_vae(header, vae, device)
    return vae.decode(latent.y_hat.to(device), header.image_height, header.image_width)
