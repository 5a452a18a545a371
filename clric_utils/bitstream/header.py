"""The ``.clric`` container: header fields, strict bounded parsing, CRC-32. See docs/format.md.

Layout (little-endian)::

    magic "CLRC" | version u8 | header fields | weights payload | grids payload | CRC-32 u32

Every size is checked against fixed limits and against the bytes actually present *before*
anything is allocated, so a hostile file cannot make the decoder allocate or loop without bound.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

from ..codec.arch import ArchConfig, SynthesisLayer
from ..errors import ClricFormatError
from .rules import (
    CHANNEL_LIMITS,
    CODER_FLUSH_BYTES,
    CRC_BYTES,
    EXPONENT_MAX,
    EXPONENT_MIN,
    MAGIC,
    MAX_ARM_HIDDEN,
    MAX_CHANNELS,
    MAX_GRID_RANGE,
    MAX_GRID_VALUE,
    MAX_GRID_VALUE_BITS,
    MAX_KERNEL,
    MAX_LEVELS,
    MAX_PARAMETERS,
    MAX_PIXELS,
    MAX_SCALING_FACTOR,
    MAX_SIDE,
    MAX_STRING,
    MAX_SYNTHESIS_LAYERS,
    MAX_WEIGHT_BITS,
    MAX_WEIGHT_MAGNITUDE,
    MAX_WEIGHT_SCALE,
    MIN_SCALING_FACTOR,
    MIN_WEIGHT_SCALE,
    NETWORKS,
    UPSAMPLING_TAPS,
    VERSION,
    VERSIONS,
    coding_groups,
    latent_grid_shapes,
    latent_size,
    level_channels,
    parameter_layout,
)


@dataclass(frozen=True)
class WeightGroup:
    """One entropy-coded group of network parameters: its Laplace scale and largest |n|."""

    network: str
    kind: str  # "weight" | "bias"
    scale: float  # float32 value: the zero-mean Laplace scale b of the group's integers
    magnitude: int  # M: every integer lies in [−M, M]; M = 0 means all zero, nothing coded


@dataclass
class Header:
    """Everything a ``.clric`` file says about itself besides its two payloads."""

    image_height: int
    image_width: int
    vae_name: str
    vae_scaling_factor: float
    preset: str
    arch: ArchConfig
    lmbda: float
    estimated_bits: float
    exponents: dict[str, tuple[int, int]]
    weight_groups: list[WeightGroup]
    grid_ranges: list[tuple[int, int]]  # (min, max) of each level (all its channels), finest first
    weights_bytes: int = 0
    grids_bytes: int = 0
    version: int = VERSION
    header_bytes: int = field(default=0, compare=False)  # set by pack/parse

    @property
    def latent_size(self) -> tuple[int, int]:
        """(h, w) of the VAE latent: ⌈H/8⌉ × ⌈W/8⌉."""
        return latent_size(self.image_height, self.image_width)

    @property
    def grid_shapes(self) -> list[tuple[int, int]]:
        """Grid sizes, finest first."""
        return latent_grid_shapes(self.image_height, self.image_width, self.arch.n_levels)

    @property
    def level_channels(self) -> list[int]:
        """Channels of each level that exists, finest first."""
        return level_channels(self.arch, len(self.grid_shapes))

    @property
    def total_bytes(self) -> int:
        """Size of the whole file."""
        return self.header_bytes + self.weights_bytes + self.grids_bytes + CRC_BYTES

    @property
    def bpp(self) -> float:
        """Bits per original image pixel of the whole file (SPEC §4)."""
        return 8.0 * self.total_bytes / (self.image_height * self.image_width)


class _Reader:
    """Bounded reads from a byte string: running past the end raises ClricFormatError."""

    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.pos = 0
        self.end = end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise ClricFormatError(f"truncated .clric file (while reading {what})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def u8(self, what: str) -> int:
        return self.unpack("B", what)[0]

    def string(self, what: str) -> str:
        raw = self.take(self.u8(what), what)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ClricFormatError(f"corrupted .clric header: {what} is not UTF-8") from None
        if not text.isprintable():
            raise ClricFormatError(f"corrupted .clric header: {what} has control characters")
        return text

    def varint(self, what: str, limit: int) -> int:
        """An unsigned LEB128 integer ≤ ``limit`` (at most 5 bytes, no overlong forms)."""
        value = 0
        for i in range(5):
            byte = self.u8(what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise ClricFormatError(f"corrupted .clric header: overlong {what}")
                break
        else:
            raise ClricFormatError(f"corrupted .clric header: {what} too long")
        if value > limit:
            raise ClricFormatError(f"corrupted .clric header: {what} = {value} exceeds {limit}")
        return value

    def svarint(self, what: str, limit: int) -> int:
        """A zigzag-coded signed LEB128 integer with |value| ≤ ``limit``."""
        z = self.varint(what, 1 << 35)
        value = (z >> 1) ^ -(z & 1)
        if abs(value) > limit:
            raise ClricFormatError(f"corrupted .clric header: {what} = {value} out of range")
        return value

    def f32(self, what: str, low: float, high: float) -> float:
        value = self.unpack("f", what)[0]
        if not (math.isfinite(value) and low <= value <= high):
            raise ClricFormatError(f"corrupted .clric header: {what} = {value!r} out of range")
        return value


def to_f32(value: float) -> float:
    """``value`` rounded to float32, as the header stores it."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, high bit set on all but the last byte."""
    if value < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _svarint(value: int) -> bytes:
    """Zigzag (0, −1, 1, −2, … → 0, 1, 2, 3, …) then LEB128."""
    return _varint(2 * value if value >= 0 else -2 * value - 1)


#: Synthesis layer code byte: bits 0–3 kernel size, bit 4 residual, bit 5 ReLU.
_KERNEL_MASK, _RESIDUAL_BIT, _RELU_BIT = 0x0F, 0x10, 0x20


def _pack_layer(layer: SynthesisLayer) -> bytes:
    """Two bytes: out_channels − 1, then kernel | residual | relu flags."""
    code = layer.kernel | (_RESIDUAL_BIT if layer.kind == "residual" else 0)
    code |= _RELU_BIT if layer.activation == "relu" else 0
    return struct.pack("<BB", layer.out_channels - 1, code)


def _pack_string(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > MAX_STRING:
        raise ValueError(f"{what} is longer than {MAX_STRING} bytes")
    return struct.pack("<B", len(raw)) + raw


def pack_header(header: Header) -> bytes:
    """Serialize ``header`` (magic and version included); sets ``header.header_bytes``."""
    arch = header.arch
    if header.version not in VERSIONS:
        raise ValueError(f"cannot write .clric version {header.version}")
    if header.version == 1 and any(c != 1 for c in arch.level_channels):
        raise ValueError("a version-1 file holds one channel per grid level")
    parts = [
        MAGIC,
        struct.pack("<B", header.version),
        _varint(header.image_height),
        _varint(header.image_width),
        _pack_string(header.vae_name, "VAE name"),
        struct.pack("<f", header.vae_scaling_factor),
        _pack_string(header.preset, "preset name"),
        struct.pack(
            "<BBBBBB", arch.n_levels, arch.arm_context, arch.arm_hidden_layers,
            arch.upsampling_taps, arch.latent_channels, len(arch.synthesis),
        ),
        *(_pack_layer(layer) for layer in arch.synthesis),
    ]
    if header.version >= 2:  # channels of every level, finest first (1 beyond the tuple)
        parts.append(bytes((list(arch.level_channels) + [1] * arch.n_levels)[: arch.n_levels]))
    parts += [
        struct.pack("<ff", header.lmbda, header.estimated_bits),
    ]
    for network in NETWORKS:
        parts.append(struct.pack("<bb", *header.exponents[network]))
    for group in header.weight_groups:
        parts.append(struct.pack("<f", group.scale) + _varint(group.magnitude))
    for lo, hi in reversed(header.grid_ranges):  # coding order: coarsest first
        parts.append(_svarint(lo) + _varint(hi - lo))
    parts.append(_varint(header.weights_bytes // 4) + _varint(header.grids_bytes // 4))
    blob = b"".join(parts)
    header.header_bytes = len(blob)
    return blob


def smallest_file_bytes(
    height: int, width: int, vae_name: str, preset: str, arch: ArchConfig
) -> int:
    """Bytes of the smallest file for these settings: header and CRC, empty payloads.

    No fit can give a smaller file, so a target rate below ``8 · this / (H · W)`` is out of
    reach (the rate control refuses it before fitting).
    """
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    groups = coding_groups(parameter_layout(arch, len(shapes)))
    header = Header(
        height, width, vae_name, 1.0, preset, arch, 1.0, 0.0,
        {network: (0, 0) for network in NETWORKS},
        [WeightGroup(network, kind, 1.0, 0) for network, kind in groups], [(0, 0)] * len(shapes),
    )
    return len(pack_header(header)) + CRC_BYTES


def largest_file_bytes(height: int, width: int, vae_name: str, preset: str,
                       arch: ArchConfig) -> int:
    """An upper bound on the bytes of any file for these settings.

    Every grid value and parameter at its costliest code, and the header with every field at
    its widest. No fit can give a larger file, so a target rate above ``8 · this / (H · W)``
    is out of reach (the rate control refuses it before fitting).
    """
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    layout = parameter_layout(arch, len(shapes))
    channels = level_channels(arch, len(shapes))
    n_values = sum(c * h * w for c, (h, w) in zip(channels, shapes, strict=True))
    n_parameters = sum(spec.size for spec in layout)

    def payload_bytes(bits: int) -> int:
        return 4 * math.ceil(bits / 32) + CODER_FLUSH_BYTES

    weights = payload_bytes(MAX_WEIGHT_BITS * n_parameters)
    grids = payload_bytes(MAX_GRID_VALUE_BITS * n_values)
    header = Header(
        height, width, vae_name, 1.0, preset, arch, 1.0, 0.0,
        {network: (EXPONENT_MAX, EXPONENT_MAX) for network in NETWORKS},
        [WeightGroup(network, kind, 1.0, MAX_WEIGHT_MAGNITUDE)
         for network, kind in coding_groups(layout)],
        [(-MAX_GRID_VALUE, -MAX_GRID_VALUE + MAX_GRID_RANGE - 1)] * len(shapes),
        weights_bytes=weights, grids_bytes=grids,
    )
    return len(pack_header(header)) + weights + grids + CRC_BYTES


def finish_file(header_blob: bytes, weights: bytes, grids: bytes) -> bytes:
    """Concatenate header and payloads and append the CRC-32 of everything before it."""
    body = header_blob + weights + grids
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _parse_arch(reader: _Reader, version: int) -> ArchConfig:
    """Read and validate the architecture fields (``level_channels`` from version 2 on)."""
    n_levels, context, hidden, taps, latent_channels, n_layers = reader.unpack(
        "BBBBBB", "architecture"
    )
    if not 1 <= n_levels <= MAX_LEVELS:
        raise ClricFormatError(f"corrupted .clric header: {n_levels} grid levels (1..{MAX_LEVELS})")
    if hidden > MAX_ARM_HIDDEN:
        raise ClricFormatError(f"corrupted .clric header: {hidden} ARM hidden layers")
    if taps != UPSAMPLING_TAPS:  # the only upsampler the format (and ArchConfig) defines
        raise ClricFormatError(f"corrupted .clric header: {taps} upsampling taps")
    latent_limit, level_limit = CHANNEL_LIMITS[version]
    if not 1 <= latent_channels <= latent_limit:
        raise ClricFormatError(f"corrupted .clric header: {latent_channels} latent channels")
    if not 1 <= n_layers <= MAX_SYNTHESIS_LAYERS:
        raise ClricFormatError(f"corrupted .clric header: {n_layers} synthesis layers")
    layers = []
    in_channels = None
    try:
        for _ in range(n_layers):
            out_minus_one, code = reader.unpack("BB", "synthesis layer")
            kernel = code & _KERNEL_MASK
            if code & ~(_KERNEL_MASK | _RESIDUAL_BIT | _RELU_BIT) or not kernel % 2:
                raise ClricFormatError(f"corrupted .clric header: synthesis layer code {code}")
            kind = "residual" if code & _RESIDUAL_BIT else "linear"
            activation = "relu" if code & _RELU_BIT else "none"
            layer = SynthesisLayer(out_minus_one + 1, kernel, kind, activation)
            part = str(layer)
            if layer.out_channels > MAX_CHANNELS or layer.kernel > MAX_KERNEL:
                raise ClricFormatError(f"corrupted .clric header: synthesis layer {part!r} too big")
            changes = in_channels is not None and in_channels != layer.out_channels
            if layer.kind == "residual" and changes:
                raise ClricFormatError(f"corrupted .clric header: residual layer {part!r} "
                                       "changes the channel count")
            layers.append(layer)
            in_channels = layer.out_channels
        channels: tuple[int, ...] = ()
        if version >= 2:
            channels = tuple(reader.take(n_levels, "grid channels"))
            if not all(1 <= c <= level_limit for c in channels):
                raise ClricFormatError(f"corrupted .clric header: grid channels {channels} "
                                       f"(1..{level_limit} each)")
        return ArchConfig(
            n_levels=n_levels, arm_context=context, arm_hidden_layers=hidden,
            upsampling_taps=taps, synthesis=tuple(layers), latent_channels=latent_channels,
            level_channels=channels,
        )
    except ClricFormatError:
        raise
    except ValueError as error:  # ParameterError and friends: the fields do not make an arch
        raise ClricFormatError(f"corrupted .clric header: {error}") from None


def check_magic_and_version(data: bytes) -> int:
    """The version of a ``.clric`` file; ClricFormatError unless this decoder reads it."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ClricFormatError("not a .clric file (wrong magic bytes)")
    if len(data) < len(MAGIC) + 1:
        raise ClricFormatError("truncated .clric file (no version byte)")
    version = data[len(MAGIC)]
    if version not in VERSIONS:
        readable = ", ".join(str(v) for v in VERSIONS[:-1]) + f" and {VERSIONS[-1]}"
        raise ClricFormatError(
            f"unsupported .clric version {version} (this decoder reads {readable})"
        )
    return version


def image_size_problem(height: int, width: int) -> str | None:
    """Why a file cannot hold an H × W image (sides, total pixels), or None if it can."""
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        return f"image size {width}×{height}: sides must be 1..{MAX_SIDE} pixels"
    if height * width > MAX_PIXELS:
        return f"image of {width}×{height} pixels exceeds {MAX_PIXELS} pixels"
    return None


def parse_header(data: bytes, check_crc: bool = True) -> Header:
    """Parse and validate the header of a complete ``.clric`` file (payload sizes included)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ClricFormatError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    version = check_magic_and_version(data)
    if len(data) < len(MAGIC) + 1 + CRC_BYTES:
        raise ClricFormatError("truncated .clric file")
    reader = _Reader(data, len(data) - CRC_BYTES)
    reader.take(len(MAGIC) + 1, "magic")
    height = reader.varint("image height", MAX_SIDE)
    width = reader.varint("image width", MAX_SIDE)
    problem = image_size_problem(height, width)
    if problem:
        raise ClricFormatError(f"corrupted .clric header: {problem}")
    vae_name = reader.string("VAE name")
    scaling = reader.f32("VAE scaling factor", MIN_SCALING_FACTOR, MAX_SCALING_FACTOR)
    preset = reader.string("preset name")
    arch = _parse_arch(reader, version)
    lmbda = reader.f32("lambda", 0.0, math.inf)
    estimated = reader.f32("estimated bits", 0.0, math.inf)
    exponents = {}
    for network in NETWORKS:
        pair = reader.unpack("bb", f"{network} exponents")
        if not all(EXPONENT_MIN <= e <= EXPONENT_MAX for e in pair):
            raise ClricFormatError(f"corrupted .clric header: {network} exponents {pair}")
        exponents[network] = pair
    shapes = latent_grid_shapes(height, width, arch.n_levels)
    first = arch.synthesis[0]
    if first.kind == "residual" and first.out_channels != arch.grid_channels(len(shapes)):
        raise ClricFormatError("corrupted .clric header: first residual synthesis layer does "
                               f"not match the {arch.grid_channels(len(shapes))} grid channels")
    layout = parameter_layout(arch, len(shapes))
    if sum(spec.size for spec in layout) > MAX_PARAMETERS:
        raise ClricFormatError("corrupted .clric header: networks too large")
    groups = []
    for network, kind in coding_groups(layout):
        scale = reader.f32(f"{network} {kind} scale", MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE)
        magnitude = reader.varint(f"{network} {kind} range", MAX_WEIGHT_MAGNITUDE)
        groups.append(WeightGroup(network, kind, scale, magnitude))
    ranges = []
    for _ in shapes:
        lo = reader.svarint("grid minimum", MAX_GRID_VALUE)
        span = reader.varint("grid symbol range", MAX_GRID_RANGE - 1)
        if abs(lo + span) > MAX_GRID_VALUE:
            raise ClricFormatError("corrupted .clric header: grid maximum out of range")
        ranges.append((lo, lo + span))
    ranges.reverse()  # stored coarsest first; kept finest first like the grids
    # Payload lengths are counted in 32-bit words (constriction's unit); never beyond the file.
    weights_bytes = 4 * reader.varint("weights payload length", len(data) // 4)
    grids_bytes = 4 * reader.varint("grids payload length", len(data) // 4)
    header = Header(
        height, width, vae_name, scaling, preset, arch, lmbda, estimated, exponents, groups,
        ranges, weights_bytes, grids_bytes, version, reader.pos,
    )
    remaining = reader.end - reader.pos
    needed = weights_bytes + grids_bytes
    if needed > remaining:
        raise ClricFormatError(
            f"truncated .clric file: {header.total_bytes} bytes expected, {len(data)} present"
        )
    if needed < remaining:
        raise ClricFormatError(
            f"{remaining - needed} unexpected trailing bytes after the end of the .clric data"
        )
    if check_crc:
        (stored,) = struct.unpack("<I", data[-CRC_BYTES:])
        if zlib.crc32(data[:-CRC_BYTES]) & 0xFFFFFFFF != stored:
            raise ClricFormatError("corrupted .clric file (CRC-32 mismatch)")
    return header
