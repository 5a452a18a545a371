"""Codecs the evaluation compares: a small protocol, the implementations and a registry.

Every codec maps a ``uint8`` ``H×W×3`` image and one parameter of its quality grid to the
complete bytes of a file, and those bytes back to an image; the rate is measured from the
bytes (``bpp = 8 · len(bytes) / (H · W)``). ``vae-only`` is the exception: it shows the VAE's
quality ceiling and has no meaningful rate (``measures_rate = False``).
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image, features

from ..errors import ClricError, ClricFormatError, ParameterError


@runtime_checkable
class Codec(Protocol):
    """What the sweep needs from a codec."""

    name: str
    parameters: tuple[float, ...]  # default quality grid
    uses_vae: bool  # rows of codecs without a VAE are keyed by vae = "none"
    measures_rate: bool  # False: bytes/bpp are reported as NaN

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """Compress a uint8 H×W×3 image into the bytes of a complete file."""
        ...

    def decode(self, data: bytes) -> np.ndarray:
        """Decompress bytes made by :meth:`encode` into a uint8 H×W×3 image."""
        ...


class CodecUnavailableError(ClricError):
    """A codec cannot run here (missing library support or module not written yet)."""


# --------------------------------------------------------------------------- image ↔ tensor
def _to_tensor(image: np.ndarray, device: str) -> torch.Tensor:
    """uint8 H×W×3 → 1×3×H×W in [-1, 1] on ``device`` (the project's convention)."""
    from ..images import image_to_tensor

    return image_to_tensor(image).to(device)


def _to_image(tensor: torch.Tensor) -> np.ndarray:
    """1×3×H×W in [-1, 1] → uint8 H×W×3."""
    from ..images import tensor_to_image

    return tensor_to_image(tensor.detach().float().cpu())


# --------------------------------------------------------------------------- Pillow codecs
class PillowCodec:
    """A lossy format Pillow writes, with its integer ``quality`` setting as the parameter.

    ``qualities`` is the (lowest, highest) quality the format accepts; the default grid starts
    at the lowest so that the curve reaches as low a rate as the format can.
    """

    uses_vae = False
    measures_rate = True

    def __init__(
        self,
        name: str,
        pil_format: str,
        parameters: Sequence[float],
        qualities: tuple[int, int] = (0, 100),
        **save_options: Any,
    ) -> None:
        self.name = name
        self.pil_format = pil_format
        self.parameters = tuple(parameters)
        self.qualities = qualities
        self.save_options = save_options

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """Save ``image`` at quality ``parameter`` (an integer in ``qualities``) in memory."""
        low, high = self.qualities
        if not low <= parameter <= high or float(parameter) != int(parameter):
            raise ParameterError(
                f"{self.name} quality must be an integer {low}–{high}, got {parameter}"
            )
        buffer = io.BytesIO()
        Image.fromarray(image).save(
            buffer, format=self.pil_format, quality=int(parameter), **self.save_options
        )
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        """Read the file from memory as RGB."""
        with Image.open(io.BytesIO(data)) as picture:
            return np.asarray(picture.convert("RGB")).copy()


#: Default quality grids, from each format's lowest setting up. Neighbours of the lowest that
#: give (nearly) the same file are left out, since a repeated point breaks the curve: JPEG 2
#: (libjpeg clamps almost every quantiser to 255 at qualities 1 and 2) and AVIF 1–4 (the same
#: or the next AV1 quantiser as quality 0).
JPEG_QUALITIES = (1, 3, 5, 8, 10, 15, 20, 30, 50, 75)
WEBP_QUALITIES = (0, 2, 5, 10, 20, 30, 50, 75)
AVIF_QUALITIES = (0, 5, 10, 15, 20, 30, 40, 50, 60)

#: libaom encoder speeds (0 slowest … 10 fastest). ``avif`` keeps 4; ``avif-slow`` uses 2,
#: which on kodim23 gave 2–3 % fewer bytes and up to 0.2 dB more at 2.5× the encoding time;
#: speeds 1 and 0 cost 3–10× more time for no further gain at these rates.
AVIF_SPEED = 4
AVIF_SLOW_SPEED = 2


def jpeg_codec(**_: Any) -> PillowCodec:
    """Baseline JPEG (libjpeg via Pillow, 4:2:0, optimised Huffman tables), quality 1–100."""
    return PillowCodec("jpeg", "JPEG", JPEG_QUALITIES, qualities=(1, 100), optimize=True)


def webp_codec(**_: Any) -> PillowCodec:
    """Lossy WebP at its slowest, best-compressing method (6), quality 0–100."""
    return PillowCodec("webp", "WEBP", WEBP_QUALITIES, method=6)


def _require_avif(name: str) -> None:
    """Fail clearly when this Pillow cannot write AVIF."""
    if not features.check("avif"):
        raise CodecUnavailableError(
            f"codec {name!r} needs Pillow built with AVIF support (Pillow ≥ 11.2 wheels have "
            "it); this Pillow reports features.check('avif') == False"
        )


def avif_codec(**_: Any) -> PillowCodec:
    """AVIF (libavif/libaom via Pillow ≥ 11.2) at encoder speed 4, quality 0–100."""
    _require_avif("avif")
    return PillowCodec("avif", "AVIF", AVIF_QUALITIES, speed=AVIF_SPEED)


def avif_slow_codec(**_: Any) -> PillowCodec:
    """AVIF at the slower, better-compressing encoder speed 2 (its own curve: ``avif-slow``)."""
    _require_avif("avif-slow")
    return PillowCodec("avif-slow", "AVIF", AVIF_QUALITIES, speed=AVIF_SLOW_SPEED)


# --------------------------------------------------------------------------- VAE codecs
def _require_vae(vae: Any, name: str) -> Any:
    """Fail clearly when a VAE codec is built without a VAE."""
    if vae is None:
        raise ParameterError(f"codec {name!r} needs a VAE (pass --vae)")
    return vae


class VaeOnlyCodec:
    """Encode → decode through the VAE with the latent kept in float32: the quality ceiling.

    The bytes hold the raw latent so that :meth:`decode` works from bytes alone, but they are
    not a compressed file, so the sweep reports bytes and bpp as NaN for this codec.
    """

    name = "vae-only"
    parameters: tuple[float, ...] = (0,)
    uses_vae = True
    measures_rate = False
    _HEADER = struct.Struct("<IIHHB")  # H, W, h, w, C

    def __init__(self, vae: Any, device: str = "cpu") -> None:
        self.vae = _require_vae(vae, self.name)
        self.device = device

    def encode(self, image: np.ndarray, parameter: float = 0) -> bytes:
        """Latent of ``image`` as a header plus float32 values (parameter is ignored)."""
        with torch.no_grad():
            latent = self.vae.encode(_to_tensor(image, self.device)).float().cpu()
        _, channels, h, w = latent.shape
        header = self._HEADER.pack(image.shape[0], image.shape[1], h, w, channels)
        return header + latent.numpy().astype("<f4").tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        """VAE-decode the stored latent."""
        height, width, h, w, channels = self._HEADER.unpack_from(data)
        values = np.frombuffer(data, dtype="<f4", offset=self._HEADER.size)
        latent = torch.from_numpy(values.copy()).reshape(1, channels, h, w).to(self.device)
        with torch.no_grad():
            return _to_image(self.vae.decode(latent, height, width))


class LatentQuantCodec:
    """Baseline: uniform quantization of the scaled VAE latent, per-channel Laplace, range coder.

    Parameter: the quantization step Δ in latent units (latents have std ≈ 1). File layout
    (little endian): version u8, image H u32, W u32, latent h u16, w u16, channels u8,
    Δ f32; per channel: min i32, max i32, Laplace mean f16, scale f16 (in steps); then the
    range coder's u32 words, channel after channel.
    """

    name = "latent-quant"
    parameters: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
    uses_vae = True
    measures_rate = True
    VERSION = 1
    _HEADER = struct.Struct("<BIIHHBf")
    _CHANNEL = struct.Struct("<iiee")
    _MIN_SCALE = 0.05  # Laplace scale floor in steps; constriction needs scale > 0

    def __init__(self, vae: Any, device: str = "cpu") -> None:
        self.vae = _require_vae(vae, self.name)
        self.device = device

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """Quantize the latent with step ``parameter`` and entropy-code it."""
        import constriction

        step = float(np.float32(parameter))  # the decoder sees the f32 in the header
        if not (step > 0 and math.isfinite(step)):
            raise ParameterError(f"latent-quant step must be > 0, got {parameter}")
        with torch.no_grad():
            latent = self.vae.encode(_to_tensor(image, self.device)).double().cpu().numpy()[0]
        symbols = np.rint(latent / step).astype(np.int32)
        channels, h, w = symbols.shape
        header = self._HEADER.pack(
            self.VERSION, image.shape[0], image.shape[1], h, w, channels, step
        )
        encoder = constriction.stream.queue.RangeEncoder()
        for values in symbols.reshape(channels, -1):
            low, high = int(values.min()), int(values.max())
            mean = float(np.float16(values.mean()))
            scale = float(np.float16(max(np.abs(values - mean).mean(), self._MIN_SCALE)))
            header += self._CHANNEL.pack(low, high, mean, scale)
            if low < high:  # a constant channel is fully described by its header
                model = constriction.stream.model.QuantizedLaplace(low, high, mean, scale)
                encoder.encode(values, model)
        return header + encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        """Entropy-decode the symbols, dequantize and VAE-decode."""
        import constriction

        try:
            version, height, width, h, w, channels, step = self._HEADER.unpack_from(data)
            if version != self.VERSION:
                raise ClricFormatError(f"latent-quant version {version} is not supported")
            offset = self._HEADER.size
            table = [
                self._CHANNEL.unpack_from(data, offset + i * self._CHANNEL.size)
                for i in range(channels)
            ]
            offset += channels * self._CHANNEL.size
        except struct.error as error:
            raise ClricFormatError(f"truncated latent-quant header: {error}") from None
        words = np.frombuffer(data[offset:], dtype="<u4").astype(np.uint32)
        decoder = constriction.stream.queue.RangeDecoder(words)
        symbols = np.empty((channels, h * w), dtype=np.int32)
        for index, (low, high, mean, scale) in enumerate(table):
            if low < high:
                model = constriction.stream.model.QuantizedLaplace(low, high, mean, scale)
                symbols[index] = decoder.decode(model, h * w)
            else:
                symbols[index] = low
        latent = torch.from_numpy(symbols.reshape(1, channels, h, w) * step).float()
        with torch.no_grad():
            return _to_image(self.vae.decode(latent.to(self.device), height, width))


# --------------------------------------------------------------------------- CLRIC
class ClricCodec:
    """Adapter to ``clric_utils.api.compress`` / ``decompress``; parameter = λ.

    λ weighs ``D + λ · bits / (H·W)``; larger λ = fewer bits. The default grid is the preset's
    ``clric_utils.codec.schedule.lambda_grid``. ``tune`` None fits the VAE's default
    distortion (``api.compress``) under the name ``clric``; a tune through the decoder
    (``pixel``, ``perceptual``) is a curve of its own, ``clric-<tune>`` (the codec name is in
    every row's key, so the rows of two tunes never stand in for each other).
    """

    uses_vae = True
    measures_rate = True

    def __init__(
        self,
        vae: Any,
        device: str = "cpu",
        preset: str | None = None,
        effort: str | None = None,
        seed: int | None = 0,
        tune: str | None = None,
    ) -> None:
        from .. import api
        from ..codec.arch import DEFAULT_PRESET, get_preset
        from ..codec.schedule import DEFAULT_EFFORT, get_effort, lambda_grid

        if preset is not None:
            get_preset(preset)  # an unknown name fails here, not after the first image
        if effort is not None:
            get_effort(effort)
        if tune is not None and tune not in TUNED_CODECS.values():
            raise ParameterError(f"unknown tune {tune!r} for clric eval; choose one of "
                                 f"{', '.join(TUNED_CODECS.values())}")
        self.name = "clric" if tune is None else f"clric-{tune}"
        self.tune = tune
        self.api = api
        self.vae = _require_vae(vae, self.name)
        channels = int(getattr(self.vae, "latent_channels", 4))
        self.parameters: tuple[float, ...] = lambda_grid(preset, channels)
        self.device = device
        #: The settings of every encode (the API's defaults where none was given); they go
        #: into each result row's provenance.
        self.settings = {
            "preset": preset or DEFAULT_PRESET,
            "effort": effort or DEFAULT_EFFORT,
            "seed": 0 if seed is None else int(seed),
        }

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """Overfit CLRIC to ``image`` at λ = ``parameter`` and return the file bytes."""
        result = self.api.compress(
            image, vae=self.vae, lmbda=float(parameter), device=self.device, progress=False,
            tune=self.tune, **self.settings,
        )  # fmt: skip
        return bytes(result.data)

    @property
    def fits_grids(self) -> bool:
        """Whether ``encode_grid`` fits all λ of an image in one job (``api.compress_grid``);
        the tunes through the decoder fit one λ at a time."""
        return self.tune is None

    def encode_grid(self, image: np.ndarray, parameters: Sequence[float]) -> list[bytes]:
        """The file bytes at every λ of ``parameters``, fitted together: ``encode``'s recipe,
        but not its bytes (the batched ops round differently)."""
        results = self.api.compress_grid(
            image, [float(p) for p in parameters], vae=self.vae, device=self.device,
            progress=False, tune=self.tune, **self.settings,
        )  # fmt: skip
        return [bytes(result.data) for result in results]

    def decode(self, data: bytes) -> np.ndarray:
        """Decode a CLRIC file with the same VAE."""
        return _to_image(self.api.decompress(data, vae=self.vae, device=self.device))


def encodes_grids(codec: Codec) -> bool:
    """Whether ``codec`` encodes all parameters of one image in one job (``encode_grid``)."""
    return bool(getattr(codec, "fits_grids", False))


# --------------------------------------------------------------------------- registry
CodecFactory = Callable[..., Codec]

#: CLRIC fitted through the VAE decoder (``codec/distortion.py``): codec name → tune.
TUNED_CODECS = {"clric-pixel": "pixel", "clric-perceptual": "perceptual"}


def _tuned_clric(tune: str) -> CodecFactory:
    """The factory of CLRIC fitted with ``tune``."""
    def factory(vae: Any = None, device: str = "cpu", **options: Any) -> ClricCodec:
        return ClricCodec(vae, device, tune=tune, **options)

    return factory


#: Codec name → factory(vae=..., device=..., **options).
CODECS: dict[str, CodecFactory] = {
    "jpeg": jpeg_codec,
    "webp": webp_codec,
    "avif": avif_codec,
    "avif-slow": avif_slow_codec,
    "vae-only": lambda vae=None, device="cpu", **_: VaeOnlyCodec(vae, device),
    "latent-quant": lambda vae=None, device="cpu", **_: LatentQuantCodec(vae, device),
    "clric": lambda vae=None, device="cpu", **options: ClricCodec(vae, device, **options),
    **{name: _tuned_clric(tune) for name, tune in TUNED_CODECS.items()},
}

#: Codecs that need a VAE (the sweep loads one only if any of these is requested).
VAE_CODECS = frozenset({"vae-only", "latent-quant", "clric", *TUNED_CODECS})


def make_codec(name: str, vae: Any = None, device: str = "cpu", **options: Any) -> Codec:
    """Build the codec registered as ``name`` (``vae`` is needed by VAE codecs only)."""
    if name not in CODECS:
        raise ParameterError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}")
    return CODECS[name](vae=vae, device=device, **options)
