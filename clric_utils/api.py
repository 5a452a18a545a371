"""The high-level API: image → ``.clric`` bytes → image, and what lies in between.

    result = compress("kodim23.png", vae="house", lmbda=1)
    open("kodim23.clric", "wb").write(result.data)
    image = decompress(result.data)            # 1×3×H×W in [-1, 1]
    latent = decompress_latent(result.data)    # ŷ only: no VAE needed

The encoder's ``y_hat`` is the integer decoder's ŷ, so ``decompress_latent(data).y_hat`` equals
``compress(...).y_hat`` bit for bit, on any machine and with any thread count.

Every argument is checked before any heavy work (a wrong preset, seed or λ fails in
milliseconds, not after the VAE pass), and both directions check a work budget
(``work_budget.py``) and a memory budget (``memory_budget.py``) first: a file claiming a huge
image or a huge decoder is refused before anything runs or is allocated. Running out of
memory anyway (a limit the estimate did not see) is a ``ResourceLimitError``, never a
traceback from torch or numpy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import memory_budget, work_budget
from .atomic import write_bytes_atomic
from .bitstream import Header, decode_file, encode_model, parse_header
from .bitstream.decode import DecodedFile
from .bitstream.header import largest_file_bytes, smallest_file_bytes
from .bitstream.reading import read_clric_file
from .bitstream.rules import latent_grid_shapes
from .codec.arch import DEFAULT_PRESET, ArchConfig, get_preset
from .codec.schedule import DEFAULT_EFFORT, get_effort
from .devices import check_device
from .errors import ClricFormatError, ImageReadError, ParameterError

if TYPE_CHECKING:
    from .codec.distortion import Distortion
    from .codec.model import OverfittedLatentModel
    from .codec.train import FitResult
    from .vae.latents import FrozenVae

#: What ``compress`` accepts as an image.
ImageInput = str | os.PathLike | np.ndarray | torch.Tensor


@dataclass
class EncodeResult:
    """A compressed image: the file's bytes and how they were obtained."""

    data: bytes  # the complete .clric file
    y_hat: torch.Tensor  # 1×C×h×w float32: the decoder's ŷ (integer path), bit-exact
    fit: FitResult  # the overfitted model (networks quantized)
    latent: torch.Tensor | None  # 1×C×h×w: the VAE latent y that was fitted (if known)
    bpp: float  # 8 · len(data) / (H · W): the real rate, header included
    estimated_bits: float  # the model's estimate (latents + weights), no header
    header_bytes: int

    @property
    def header(self) -> Header:
        """The file's header."""
        return parse_header(self.data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``data`` to ``path`` atomically (folders are created); return the path.

        An existing file is replaced (the command line asks for ``--force`` first); readers
        see the old file or the new one, never a mixture (``atomic.py``).
        """
        if "\0" in os.fspath(path):
            raise ParameterError(f"output path {os.fspath(path)!r} contains a NUL character")
        return write_bytes_atomic(path, self.data)


@dataclass
class DecodedLatent:
    """What a ``.clric`` file decodes to before the VAE: ŷ and the header (and the integers)."""

    y_hat: torch.Tensor  # 1×C×h×w float32 (C: the VAE's latent channels)
    header: Header
    decoded: DecodedFile  # integer grids and networks, for inspection

    def model(self) -> OverfittedLatentModel:
        """The float OverfittedLatentModel the file describes (for inspection and plots)."""
        from .codec.model import model_from_integers

        return model_from_integers(self.header, self.decoded.grids, self.decoded.values)


def _as_bytes(data: bytes | bytearray | memoryview | str | os.PathLike) -> bytes:
    """File contents: bytes as they are, or the bytes of the file at a path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return read_clric_file(data)
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
    """The image as a 1×3×H×W float32 tensor in [-1, 1], of a size the CLI would accept too."""
    from .images import check_image_size, image_to_tensor, read_image

    if isinstance(image, (str, os.PathLike)):
        return image_to_tensor(read_image(image))
    if isinstance(image, np.ndarray):
        try:
            tensor = image_to_tensor(image)
        except ValueError as error:
            raise ImageReadError(f"bad image array: {error}") from None
    elif isinstance(image, torch.Tensor):
        tensor = _checked_tensor(image)
    else:
        raise ImageReadError(
            f"expected an image path, uint8 array or tensor, got {type(image).__name__}"
        )
    check_image_size(int(tensor.shape[-1]), int(tensor.shape[-2]), "image")
    return tensor


def _image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image file from its header: its pixels are not read yet."""
    from .images import image_size

    return image_size(path)


def _checked_tensor(image: torch.Tensor) -> torch.Tensor:
    """A 1×3×H×W float tensor in [-1, 1] as float32 on the CPU, or ImageReadError.

    A tensor whose values all lie in [0, 1] is refused: it is almost surely a [0, 1] image
    (torchvision's convention), which would silently come out far too dark. An image that truly
    has no pixel below mid-grey can be passed as a uint8 array instead.
    """
    tensor = image[None] if image.ndim == 3 else image
    if tensor.ndim != 4 or tensor.shape[:2] != (1, 3) or not tensor.is_floating_point():
        raise ImageReadError(f"expected a 1×3×H×W float tensor, got {tuple(image.shape)}")
    if tensor.numel() == 0:
        raise ImageReadError(f"image tensor of shape {tuple(image.shape)} is empty")
    if not torch.isfinite(tensor).all() or tensor.abs().max() > 1.0 + 1e-6:
        raise ImageReadError("image tensor values must lie in [-1, 1]")
    if tensor.min() >= 0:
        raise ImageReadError(
            "image tensor values all lie in [0, 1], but compress expects [-1, 1] "
            "(pixel / 127.5 − 1): pass 2·x − 1, or the picture as an H×W×3 uint8 array"
        )
    return tensor.detach().to("cpu", torch.float32)


def _checked_preset(preset: str | ArchConfig) -> str | ArchConfig:
    """``preset`` if it names a preset or is an ArchConfig; ParameterError otherwise."""
    if isinstance(preset, ArchConfig):
        return preset
    if not isinstance(preset, str):
        raise ParameterError(f"preset must be a preset name or an ArchConfig, got {preset!r}")
    get_preset(preset)
    return preset


#: Seeds accepted by ``compress`` (torch.manual_seed takes 64-bit seeds; negatives are refused).
MAX_SEED = 2**63 - 1


def _checked_seed(seed: int) -> int:
    """``seed`` as an int in 0 … MAX_SEED, or ParameterError."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ParameterError(f"seed must be in 0 … 2**63 − 1, got {seed}")
    return int(seed)


def encode_budget(arch: ArchConfig, height: int, width: int, vae: FrozenVae,
                  models: int = 1) -> int:
    """Estimated peak bytes of ``compress`` on an H × W image (see memory_budget.py);
    ``models``: fits held at once (``compress_grid``: one per λ)."""
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    latent_pixels = shapes[0][0] * shapes[0][1]
    fit = memory_budget.fit_bytes(arch, latent_pixels, len(shapes))
    fit += memory_budget.yhat_bytes(arch, latent_pixels, len(shapes))
    fit *= models
    vae_pass = memory_budget.vae_pass_bytes(vae, height, width)
    return memory_budget.IMAGE_BYTES_PER_PIXEL * height * width + max(vae_pass, fit)


def decode_budget(header: Header, vae: FrozenVae | None = None, image: bool = True) -> int:
    """Estimated peak bytes of decoding a file with this header: ŷ, the picture (``image``)
    and the pass of ``vae`` (when given; without it the estimate is a lower bound)."""
    height, width = header.image_height, header.image_width
    latent_pixels = header.latent_size[0] * header.latent_size[1]
    needed = memory_budget.yhat_bytes(header.arch, latent_pixels, len(header.grid_shapes))
    if image:
        needed += memory_budget.IMAGE_BYTES_PER_PIXEL * height * width
    if vae is not None:
        needed += memory_budget.vae_pass_bytes(vae, height, width)
    return needed


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
    strict: bool = False,
    max_memory: float | None = None,
    tune: str | Distortion | None = None,
    max_work: float | None = None,
) -> EncodeResult:
    """Compress an image (path, H×W×3 uint8 array or 1×3×H×W tensor in [-1, 1]).

    Exactly one of ``lmbda`` (the rate-distortion trade-off) and ``target_bpp`` (searched
    for with rate control, measuring the real file size) must be given. ``vae`` is a short
    name (``house``, ``sd``, ``tiny``, …) or a FrozenVae. Images need sides of at least
    8 pixels and at most 100 megapixels, as on the command line. A tensor whose values all
    lie in [0, 1] is refused as a probable [0, 1]-range image (pass ``2·x − 1``, or a uint8
    array for a picture that truly has no pixel darker than mid-grey).

    ``strict``: when no fit lands within 3 % of ``target_bpp``, raise ParameterError naming
    the closest rate reached (the command line's default) instead of returning that closest
    fit with a RuntimeWarning. ``max_memory``: the memory limit in GB (default: what is
    available on this machine); an image needing more is refused before the VAE pass.
    ``tune``: the distortion the fit minimises besides the rate
    (``codec/distortion.py``): ``"latent"`` (plain latent MSE, the paper's),
    ``"weighted-latent"`` (latent MSE weighted by the VAE decoder's per-channel sensitivity,
    stored with the VAE), ``"pixel"`` / ``"perceptual"`` (latent MSE plus pixel MSE / pixel MSE
    and LPIPS-alex of tiles the frozen VAE decoder makes of ŷ; slower to encode) or a
    distortion object; None (default): ``weighted-latent`` for a VAE that stores its
    sensitivity (``taef2``), else ``latent``. The file format is the same either way.
    ``max_work``: the work limit in megapixel-equivalents (``work_budget.py``; default 16): a
    larger image is refused before the VAE pass.
    """
    device = check_device(device)
    if (lmbda is None) == (target_bpp is None):
        raise ParameterError("give exactly one of lmbda and target_bpp")
    from .codec.train import fit as fit_latent
    from .codec.train import validate_lambda

    if lmbda is not None:
        lmbda = validate_lambda(lmbda)
    else:
        target_bpp = _checked_target_bpp(target_bpp)
    seed = _checked_seed(seed)
    encoding = _Encoding.prepare(image, vae, preset, effort, tune, max_memory, max_work, device,
                                 target_bpp=target_bpp)
    with encoding.memory_errors():
        latent, loss = encoding.latent_and_loss()
        if lmbda is not None:
            result = fit_latent(latent, encoding.size, lmbda, preset=encoding.preset,
                                effort=effort, seed=seed, device=device, progress=progress,
                                distortion=loss)
            return encoding.written(result, latent)
        return _fit_to_target(latent, encoding.vae, encoding.size, target_bpp, strict,
                              encoding.preset, effort, seed, device, progress, loss)


def compress_grid(
    image: ImageInput,
    lambdas: list[float] | tuple[float, ...],
    vae: str | FrozenVae = "house",
    preset: str = DEFAULT_PRESET,
    effort: str = DEFAULT_EFFORT,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    max_memory: float | None = None,
    tune: str | Distortion | None = None,
    max_work: float | None = None,
) -> list[EncodeResult]:
    """``compress`` at every λ of ``lambdas`` in one job: one file per λ, in their order.

    The fits run batched (``codec/grid_fit.fit_lambda_grid``: every op once for all λ), which
    costs a fraction of one ``compress`` per λ on a CPU (docs/codec.md §9); each file is an
    ordinary ``.clric`` file that decodes alone. Arguments as ``compress``'s; the tunes that
    decode tiles through the VAE (``pixel``, ``perceptual``) fit one λ at a time and are
    refused here. The memory budget counts one fit per λ.
    """
    device = check_device(device)
    from .codec.distortion import TUNE_WEIGHTS
    from .codec.grid_fit import fit_lambda_grid
    from .codec.train import validate_lambda

    if isinstance(lambdas, (str, bytes, Mapping, AbstractSet)) or not isinstance(lambdas,
                                                                                Iterable):
        raise ParameterError(f"lambdas must be a list of λ values, got {lambdas!r}")
    lambdas = [validate_lambda(lmbda) for lmbda in lambdas]
    if not lambdas:
        raise ParameterError("lambdas is empty: give at least one λ")
    if isinstance(tune, str) and tune in TUNE_WEIGHTS:  # before loading anything
        raise ParameterError(f"the {tune} tune fits one λ at a time: use compress for each λ")
    seed = _checked_seed(seed)
    encoding = _Encoding.prepare(image, vae, preset, effort, tune, max_memory, max_work, device,
                                 models=len(lambdas))
    if encoding.loss.stochastic:
        raise ParameterError(f"the {encoding.loss.name} tune fits one λ at a time: use "
                             "compress for each λ")
    with encoding.memory_errors():
        latent, loss = encoding.latent_and_loss()
        results = fit_lambda_grid(latent, encoding.size, lambdas, preset=encoding.preset,
                                  effort=effort, seed=seed, device=device, progress=progress,
                                  distortion=loss)
        return [encoding.written(result, latent) for result in results]


@dataclass
class _Encoding:
    """What ``compress`` and ``compress_grid`` check and load before fitting."""

    image: ImageInput
    x: torch.Tensor | None  # the image tensor (None until read, for a path)
    vae: FrozenVae
    preset: str | ArchConfig
    loss: Distortion
    size: tuple[int, int]  # (H, W)

    @classmethod
    def prepare(cls, image, vae, preset, effort, tune, max_memory, max_work, device,
                target_bpp: float | None = None, models: int = 1) -> _Encoding:
        """Check every argument, load the VAE and check the memory and work budgets.

        The size first (from a file's header alone), then the VAE, then the budgets, and only
        then the pixels (``latent_and_loss``): a bad or too large image fails fast and
        allocates nothing.
        """
        preset = _checked_preset(preset)
        arch = get_preset(preset) if isinstance(preset, str) else preset
        get_effort(effort)
        _check_tune_name(tune)
        max_memory = memory_budget.check_max_memory(max_memory)
        max_work = work_budget.check_max_work(max_work)
        # (A path's size from its header, an array's here: images.check_image_size both ways.)
        x = None if isinstance(image, (str, os.PathLike)) else _image_tensor(image)
        height, width = (_image_size(image) if x is None
                         else tuple(int(s) for s in x.shape[-2:]))
        vae = _load_vae(vae, device)
        check_scaling_factor(vae)
        if isinstance(preset, str):  # the preset's rule sized to this VAE's latent
            arch = get_preset(preset, int(getattr(vae, "latent_channels", 4)))
        loss = distortion_for(vae, tune)
        if target_bpp is not None:
            _check_reachable(target_bpp, height, width, str(vae.name), preset, arch)
        what = f"encoding this {width}×{height} image"
        memory_budget.check_budget(encode_budget(arch, height, width, vae, models), max_memory,
                                   what)
        work_budget.check_work(work_budget.decode_work(arch, height, width), max_work, what)
        return cls(image, x, vae, preset, loss, (height, width))

    def memory_errors(self):
        """A context that turns allocation failures into ResourceLimitError."""
        height, width = self.size
        return memory_budget.memory_errors(f"encoding this {width}×{height} image")

    def latent_and_loss(self) -> tuple[torch.Tensor, Distortion]:
        """The image's latent (on the CPU) and the fit's distortion for it."""
        from .codec.distortion import DecodedDistortion

        x = _image_tensor(self.image) if self.x is None else self.x
        latent = self.vae.encode(x).to("cpu")
        loss = self.loss
        if isinstance(loss, DecodedDistortion):  # a tune through the decoder aims at the image
            loss = loss.aimed_at(x.to("cpu"))
        return latent, loss

    def written(self, result: FitResult, latent: torch.Tensor) -> EncodeResult:
        """The ``.clric`` file of a fit of this encoding."""
        return write_fit(result, str(self.vae.name), float(self.vae.scaling_factor), latent)


def _fit_to_target(latent, vae, size, target_bpp, strict, preset, effort, seed, device,
                   progress, loss) -> EncodeResult:
    """The file whose real rate is closest to ``target_bpp`` (rate control)."""
    from .codec.rate_control import fit_to_target_bpp

    vae_name, scaling = str(vae.name), float(vae.scaling_factor)

    def measure_bpp(candidate) -> float:
        return write_fit(candidate, vae_name, scaling).bpp

    try:
        found = fit_to_target_bpp(latent, size, target_bpp, measure_bpp=measure_bpp,
                                  strict=strict, preset=preset, effort=effort, seed=seed,
                                  device=device, progress=progress, distortion=loss)
    except ParameterError as error:  # every argument was checked above: the target was missed
        raise ParameterError(f"{error}; pass --best-effort (strict=False) to keep the "
                             "closest file") from None
    return write_fit(found, vae_name, scaling, latent)


def _check_tune_name(tune) -> None:
    """ParameterError for a tune given by a name ``compress`` does not know."""
    from .codec.tunes import TUNES

    if isinstance(tune, str) and tune not in TUNES:
        raise ParameterError(f"unknown tune {tune!r}; choose one of {', '.join(TUNES)}")


def distortion_for(vae: FrozenVae, distortion: str | Distortion | None = None) -> Distortion:
    """The fit's distortion for ``vae`` and a tune (see ``compress``); ParameterError if bad."""
    from .codec.distortion import (
        LATENT_MSE,
        TUNE_WEIGHTS,
        DecodedDistortion,
        LatentMSE,
        tuned_distortion,
        weighted_latent_mse,
    )

    if isinstance(distortion, (LatentMSE, DecodedDistortion)):
        return distortion
    sensitivity = getattr(vae, "channel_sensitivity", None)
    if distortion is None:
        distortion = "latent" if sensitivity is None else "weighted-latent"
    _check_tune_name(distortion)
    if distortion == "latent":
        return LATENT_MSE
    if distortion in TUNE_WEIGHTS:
        return tuned_distortion(distortion, vae)
    if sensitivity is None:
        raise ParameterError(f"VAE {vae.name} stores no per-channel sensitivity, so "
                             "'weighted-latent' is unavailable; measure it with "
                             "`python -m clric_utils.vae.sensitivity`, or use 'latent'")
    return weighted_latent_mse(sensitivity)


def _checked_target_bpp(target_bpp: float) -> float:
    """``target_bpp`` as a float, or ParameterError unless it is finite and > 0."""
    try:
        value = float(target_bpp)
    except (TypeError, ValueError):
        raise ParameterError(f"target bpp must be a number, got {target_bpp!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"target bpp must be finite and > 0, got {target_bpp!r}")
    return value


def _check_reachable(target_bpp: float, height: int, width: int, vae_name: str,
                     preset: str | ArchConfig, arch: ArchConfig) -> None:
    """ParameterError when even an empty file (header and CRC alone) is above ``target_bpp``,
    or even the largest file the format allows for this preset is below it."""
    preset_name = preset if isinstance(preset, str) else "custom"
    pixels = height * width
    floor = 8 * smallest_file_bytes(height, width, vae_name, preset_name, arch) / pixels
    if target_bpp < floor:
        raise ParameterError(
            f"target {target_bpp:g} bpp cannot be reached: the header alone takes "
            f"{floor:.4g} bpp for a {width}×{height} image; ask for at least that"
        )
    ceiling = 8 * largest_file_bytes(height, width, vae_name, preset_name, arch) / pixels
    if target_bpp > ceiling:
        raise ParameterError(
            f"target {target_bpp:g} bpp cannot be reached: with preset {preset_name} a "
            f"{width}×{height} image's file holds at most {ceiling:.4g} bpp (every value at "
            "its costliest code); ask for less"
        )


def check_scaling_factor(vae: FrozenVae) -> None:
    """ParameterError unless the VAE's scaling factor is one a file can store (and decode)."""
    from .bitstream.rules import MAX_SCALING_FACTOR, MIN_SCALING_FACTOR

    try:
        scaling = float(vae.scaling_factor)
    except (TypeError, ValueError):
        scaling = math.nan
    if not (math.isfinite(scaling) and MIN_SCALING_FACTOR <= scaling <= MAX_SCALING_FACTOR):
        raise ParameterError(
            f"VAE {vae.name}: scaling_factor {vae.scaling_factor!r} is unusable; it must be a "
            f"number in [{MIN_SCALING_FACTOR:g}, {MAX_SCALING_FACTOR:g}] (fix its config.json)"
        )


def read_header(data: bytes | str | os.PathLike) -> Header:
    """The validated header of a ``.clric`` file (bytes or path); checks sizes and the CRC."""
    return parse_header(_as_bytes(data))


def decompress_latent(
    data: bytes | str | os.PathLike, max_memory: float | None = None,
    max_work: float | None = None,
) -> DecodedLatent:
    """Decode ŷ (1×C×h×w) from a ``.clric`` file (bytes or path); no VAE needed.

    ``max_memory``: limit in GB (default: what this machine has available); ``max_work``:
    limit in megapixel-equivalents (default 16, ``work_budget.py``). A file whose header
    claims more is refused with ResourceLimitError before anything runs or is allocated.
    """
    max_memory = memory_budget.check_max_memory(max_memory)
    max_work = work_budget.check_max_work(max_work)
    data = _as_bytes(data)
    header = parse_header(data)
    memory_budget.check_budget(decode_budget(header, image=False), max_memory,
                               _decoding(header))
    check_decode_work(header, max_work)
    with memory_budget.memory_errors(_decoding(header)):
        return _decode_latent(data, header)


def check_decode_work(header: Header, max_work: float | None) -> None:
    """ResourceLimitError when the header's decode work exceeds ``max_work`` (``work_budget``)."""
    work = work_budget.decode_work(header.arch, header.image_height, header.image_width)
    work_budget.check_work(work, max_work, _decoding(header))


def _decode_latent(data: bytes, header: Header) -> DecodedLatent:
    """ŷ of a file whose header was parsed (and checked) already."""
    decoded = decode_file(data, header)
    return DecodedLatent(torch.from_numpy(decoded.y_hat), decoded.header, decoded)


def _decoding(header: Header) -> str:
    """How a decode is named in budget errors."""
    return f"decoding this file ({header.image_width}×{header.image_height} pixels)"


def check_decode_budget(
    header: Header, vae: FrozenVae | None, max_memory: float | None
) -> None:
    """ResourceLimitError when decoding ŷ and the image needs more than the limit (GB).

    Called once before the VAE is loaded (``vae`` None: a forged size is refused without
    loading, let alone downloading, the VAE the file names), and once with it.
    """
    max_memory = memory_budget.check_max_memory(max_memory)
    memory_budget.check_budget(decode_budget(header, vae), max_memory, _decoding(header))


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


@dataclass
class DecodedImage:
    """A decoded file: the image, ŷ and header, and the VAE that made the image."""

    image: torch.Tensor  # 1×3×H×W in [-1, 1]
    latent: DecodedLatent
    vae: FrozenVae


def decode_pipeline(
    data: bytes | str | os.PathLike,
    vae: str | FrozenVae | None = None,
    device: str | torch.device = "cpu",
    max_memory: float | None = None,
    on_latent: Callable[[DecodedLatent], None] | None = None,
    max_work: float | None = None,
) -> DecodedImage:
    """The one decoder: file → header → VAE → ŷ → image, each step once.

    The header is parsed (with its CRC) once. The work it claims (``max_work``, in
    megapixel-equivalents) and the memory its claimed size needs are checked before the VAE
    is loaded (so a forged file never loads, let alone downloads, a VAE), the memory once more
    with the VAE's own cost. ``on_latent`` is called with ŷ before the VAE runs (``clric
    decode --dump-latent`` saves it there).
    """
    device = check_device(device)
    max_memory = memory_budget.check_max_memory(max_memory)
    max_work = work_budget.check_max_work(max_work)
    data = _as_bytes(data)
    header = parse_header(data)
    check_decode_budget(header, None, max_memory)
    check_decode_work(header, max_work)
    vae = file_vae(header, vae, device)
    check_decode_budget(header, vae, max_memory)
    with memory_budget.memory_errors(_decoding(header)):
        latent = _decode_latent(data, header)
        if on_latent is not None:
            on_latent(latent)
        image = vae.decode(latent.y_hat.to(device), header.image_height, header.image_width)
    return DecodedImage(image, latent, vae)


def decompress(
    data: bytes | str | os.PathLike,
    vae: str | FrozenVae | None = None,
    device: str | torch.device = "cpu",
    max_memory: float | None = None,
    max_work: float | None = None,
) -> torch.Tensor:
    """Decode the image (1×3×H×W in [-1, 1]); the VAE named in the file unless ``vae`` is given.

    The memory the claimed image size needs (ŷ, the VAE pass, the picture) is checked against
    ``max_memory`` GB (default: what this machine has available), and the work it claims
    against ``max_work`` megapixel-equivalents (default 16), before anything is decoded.
    """
    return decode_pipeline(data, vae, device, max_memory, max_work=max_work).image
