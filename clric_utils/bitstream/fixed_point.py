"""Integer-only evaluation of f_ψ: the ARM and ŷ computed exactly with int64 numpy.

Why integers: the decoder must rebuild *exactly* the encoder's probabilities, or the range
decoder desynchronises and the rest of the file decodes to garbage. Float results depend on
thread count, BLAS, SIMD width and machine; int64 sums and shifts do not. The encoder computes
its ŷ with this same path, so encoder and decoder ŷ are bit-identical by construction.

Fixed point: an activation ``a`` stands for ``a · 2^-FRAC_BITS``. A network parameter is
``n · 2^-e`` (``n`` an integer, ``e`` the exponent the trainer chose for its network and
kind). A layer computes ``acc = Σ n_w · a_x`` (scale ``2^-(F+e_w)``), adds the bias shifted to
the same scale, then rounds back to ``F`` fractional bits with ``(acc + 2^(e_w-1)) >> e_w``.
Before every layer a bound ``max|x| · max_row Σ|n_w| + max|bias|`` is checked against 2^62 in
Python integers, so int64 can never overflow silently (a file that would overflow is refused
identically by the encoder and the decoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..codec.arch import ArchConfig
from ..errors import ParameterError
from .rules import ACC_LIMIT, FRAC_BITS, arm_offsets, context_radius, is_bias
from .tables import mu_index, scale_index

#: Pixels per chunk when running runs of 1×1 synthesis layers (bounds temporary memory).
CHUNK_PIXELS = 1 << 16


class FixedPointOverflow(ArithmeticError):
    """An int64 accumulation could overflow: the parameters are too large for fixed point."""


@dataclass(frozen=True)
class IntegerLinear:
    """A linear / convolution layer with integer parameters ``n · 2^-e``."""

    weight: np.ndarray  # int64 (out, in) or (out, in, k, k)
    bias: np.ndarray  # int64 (out,)
    weight_exponent: int
    bias_exponent: int


@dataclass(frozen=True)
class IntegerArm:
    """The ARM in integers: residual hidden layers then the (μ, log b) output layer."""

    offsets: tuple[tuple[int, int], ...]
    hidden: tuple[IntegerLinear, ...]
    out: IntegerLinear


@dataclass(frozen=True)
class IntegerNetworks:
    """All three networks with integer parameters, ready for the integer decoder."""

    arm: IntegerArm
    upsampling: tuple[np.ndarray, ...]  # int64 polyphase kernels, kernels[level] as in torch
    upsampling_exponent: int
    synthesis: tuple[IntegerLinear, ...]
    exponents: dict[str, tuple[int, int]]


def networks_from_values(
    arch: ArchConfig,
    n_grids: int,
    values: dict[str, np.ndarray],
    exponents: dict[str, tuple[int, int]],
) -> IntegerNetworks:
    """Assemble ``IntegerNetworks`` from ``{"network.name": int64 array}`` (layout shapes)."""
    def get(network: str, name: str) -> np.ndarray:
        return np.asarray(values[f"{network}.{name}"], dtype=np.int64)

    ew, eb = exponents["arm"]
    hidden = tuple(
        IntegerLinear(get("arm", f"hidden.{i}.weight"), get("arm", f"hidden.{i}.bias"), ew, eb)
        for i in range(arch.arm_hidden_layers)
    )
    arm = IntegerArm(
        arm_offsets(arch),
        hidden,
        IntegerLinear(get("arm", "out.weight"), get("arm", "out.bias"), ew, eb),
    )
    kernels = tuple(get("upsampling", f"kernels.{i}") for i in range(max(0, n_grids - 1)))
    sw, sb = exponents["synthesis"]
    synthesis = tuple(
        IntegerLinear(
            get("synthesis", f"layers.{i}.conv.weight"), get("synthesis", f"layers.{i}.conv.bias"),
            sw, sb,
        )
        for i in range(len(arch.synthesis))
    )
    return IntegerNetworks(arm, kernels, exponents["upsampling"][0], synthesis, dict(exponents))


def network_integers(
    model: torch.nn.Module, exponents: dict[str, tuple[int, int]], tolerance: float = 1e-3
) -> dict[str, np.ndarray]:
    """The integers ``n = p · 2^e`` of every transmitted parameter of an OverfittedLatentModel.

    Raises ValueError when a parameter is not (within ``tolerance`` of a step) on its dyadic
    grid: the trainer must hand over quantized networks, or the file would not be the model.
    """
    values: dict[str, np.ndarray] = {}
    for network, module in model.networks().items():
        weight_exp, bias_exp = exponents[network]
        for name, param in module.named_parameters():
            exp = bias_exp if is_bias(name) else weight_exp
            scaled = param.detach().to("cpu", torch.float64).numpy() * 2.0**exp
            if not np.isfinite(scaled).all():
                raise ParameterError(f"{network}.{name} has non-finite values")
            ints = np.rint(scaled)
            error = float(np.abs(scaled - ints).max()) if ints.size else 0.0
            if error > tolerance:
                raise ValueError(
                    f"{network}.{name} is not quantized to steps of 2^-{exp} "
                    f"(off by {error:.3g} steps)"
                )
            values[f"{network}.{name}"] = ints.astype(np.int64)
    return values


# ----------------------------------------------------------------------------------------
# Exact integer arithmetic helpers
# ----------------------------------------------------------------------------------------


def shift_round(x: np.ndarray, shift: int) -> np.ndarray:
    """x · 2^-shift rounded half up (shift > 0), or x · 2^-shift exactly (shift ≤ 0)."""
    if shift > 0:
        return (x + (1 << (shift - 1))) >> shift
    if shift < 0:
        return x << (-shift)
    return x


def _max_abs(x: np.ndarray) -> int:
    """max |x| as a Python int (0 for empty arrays); exact even for the most negative int64."""
    return max(int(x.max()), -int(x.min())) if x.size else 0


def _check_bound(value: int, what: str) -> None:
    """Raise FixedPointOverflow when ``value`` may not fit an int64 accumulator."""
    if value >= ACC_LIMIT:
        raise FixedPointOverflow(f"{what}: fixed-point values too large for int64")


def _aligned_bias(layer: IntegerLinear) -> np.ndarray:
    """The bias as an integer at the accumulator's scale 2^-(F + e_w)."""
    shift = FRAC_BITS + layer.weight_exponent - layer.bias_exponent
    if shift >= 0:
        _check_bound(_max_abs(layer.bias) << shift, "bias")
    return shift_round(layer.bias, -shift)


def _finish(layer: IntegerLinear, acc: np.ndarray) -> np.ndarray:
    """Add the bias to ``acc`` (out × N) and round back to FRAC_BITS fractional bits."""
    return shift_round(acc + _aligned_bias(layer)[:, None], layer.weight_exponent)


def _linear_bound(layer: IntegerLinear, x_max: int, taps_per_output: np.ndarray) -> None:
    """Check that Σ|n_w|·max|x| + |bias| stays below the int64 limit."""
    bias_shift = FRAC_BITS + layer.weight_exponent - layer.bias_exponent
    bias_max = _max_abs(layer.bias) << max(bias_shift, 0)
    row_max = int(taps_per_output.max()) if taps_per_output.size else 0
    _check_bound(row_max * x_max + bias_max, "layer")


def linear_fixed(layer: IntegerLinear, x: np.ndarray) -> np.ndarray:
    """W x + b for x (in × N) in fixed point; returns (out × N)."""
    weight = layer.weight.reshape(layer.weight.shape[0], -1)
    _linear_bound(layer, _max_abs(x), np.abs(weight).sum(axis=1))
    return _finish(layer, weight @ x)


def conv_fixed(layer: IntegerLinear, x: np.ndarray) -> np.ndarray:
    """k×k convolution (replicate padding) of x (in × H × W); returns (out × H × W)."""
    out_channels, in_channels, kernel, _ = layer.weight.shape
    _, height, width = x.shape
    _linear_bound(layer, _max_abs(x), np.abs(layer.weight).reshape(out_channels, -1).sum(axis=1))
    pad = kernel // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="edge") if pad else x
    acc = np.zeros((out_channels, height * width), dtype=np.int64)
    for ky in range(kernel):
        for kx in range(kernel):
            window = padded[:, ky : ky + height, kx : kx + width].reshape(in_channels, -1)
            acc += layer.weight[:, :, ky, kx] @ window  # exact: integer sums in any order
    return _finish(layer, acc).reshape(out_channels, height, width)


# ----------------------------------------------------------------------------------------
# ARM
# ----------------------------------------------------------------------------------------


def integer_arm_raw(contexts: np.ndarray, arm: IntegerArm) -> tuple[np.ndarray, np.ndarray]:
    """(μ, log b) in fixed point (FRAC_BITS) for each row of integer ``contexts`` (N × C)."""
    contexts = np.asarray(contexts, dtype=np.int64)
    _check_bound(_max_abs(contexts) << FRAC_BITS, "ARM context")
    h = contexts.T << FRAC_BITS  # C × N
    for layer in arm.hidden:
        y = linear_fixed(layer, h)
        _check_bound(_max_abs(y) + _max_abs(h), "ARM residual")
        h = h + np.maximum(y, 0)
    out = linear_fixed(arm.out, h)
    return out[0], out[1]


def integer_arm(contexts: np.ndarray, arm: IntegerArm) -> tuple[np.ndarray, np.ndarray]:
    """(μ index in 1/MU_STEPS units, scale-table index) of each context row (N × C)."""
    mu, log_scale = integer_arm_raw(contexts, arm)
    return mu_index(mu), scale_index(log_scale)


class ArmRunner:
    """``integer_arm`` for contexts whose values stay within ±``max_context``, minus the checks.

    The overflow checks of ``integer_arm`` are worst-case bounds of every accumulator given the
    largest input. Here they are evaluated once, for the largest context the symbol range
    allows (|values| ≤ ``max_context``): when even that worst case fits int64, no call can
    overflow and the per-call checks (a reduction per layer) are skipped; the integers computed
    are the same, operation for operation. Otherwise every call goes through the checked path,
    so a file that would overflow is refused exactly as before.
    """

    def __init__(self, arm: IntegerArm, max_context: int) -> None:
        self.arm = arm
        self.layers = [self._prepare(layer) for layer in (*arm.hidden, arm.out)]
        self.unchecked = self._worst_case_fits(int(max_context))

    @staticmethod
    def _prepare(layer: IntegerLinear) -> tuple[np.ndarray, np.ndarray, int]:
        """(weight, bias aligned to the accumulator plus the rounding half, shift)."""
        shift = layer.weight_exponent
        bias = _aligned_bias(layer) + ((1 << (shift - 1)) if shift > 0 else 0)
        return layer.weight, bias[:, None], shift

    def _worst_case_fits(self, max_context: int) -> bool:
        """Whether the largest possible accumulator of every layer stays below ACC_LIMIT."""
        bound = max_context << FRAC_BITS
        if bound >= ACC_LIMIT:
            return False
        for index, layer in enumerate((*self.arm.hidden, self.arm.out)):
            row_max = int(np.abs(layer.weight).sum(axis=1).max()) if layer.weight.size else 0
            bias_shift = FRAC_BITS + layer.weight_exponent - layer.bias_exponent
            accumulator = row_max * bound + (_max_abs(layer.bias) << max(bias_shift, 0))
            if accumulator >= ACC_LIMIT:
                return False
            if index < len(self.arm.hidden):  # residual: h + ReLU(y), |y| ≤ acc / 2^e + 1
                bound += (accumulator >> layer.weight_exponent) + 1
                if bound >= ACC_LIMIT:
                    return False
        return True

    def __call__(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(μ index, scale index) of each context row (N × C), as ``integer_arm``."""
        if not self.unchecked:
            return integer_arm(contexts, self.arm)
        h = np.asarray(contexts, dtype=np.int64).T << FRAC_BITS
        *hidden, (weight, bias, shift) = self.layers
        for w, b, s in hidden:
            h = h + np.maximum((w @ h + b) >> s, 0)
        out = (weight @ h + bias) >> shift
        return mu_index(out[0]), scale_index(out[1])


def grid_contexts(grid: np.ndarray, offsets: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Contexts (c·h·w × C, int64) of every value of an integer level (c × h × w, or h × w).

    Each channel is its own grid (zeros outside it); rows come channel by channel in raster
    order, as ``grid.reshape(-1)`` lists the values.
    """
    radius = context_radius(list(offsets))
    grid = np.asarray(grid, dtype=np.int64).reshape(-1, *np.shape(grid)[-2:])
    channels, height, width = grid.shape
    padded = np.zeros((channels, height + radius, width + 2 * radius), dtype=np.int64)
    padded[:, radius:, radius : radius + width] = grid
    columns = [
        padded[:, radius + dy : radius + dy + height, radius + dx : radius + dx + width]
        for dy, dx in offsets
    ]
    return np.stack(columns, axis=-1).reshape(channels * height * width, len(offsets))


# ----------------------------------------------------------------------------------------
# Upsampling and synthesis
# ----------------------------------------------------------------------------------------


def upsample2x_fixed(x: np.ndarray, kernel: np.ndarray, exponent: int, axis: int) -> np.ndarray:
    """Polyphase 2× upsampling of x (C × H × W) along ``axis`` (1 rows, 2 columns)."""
    taps = kernel.size // 2
    half = taps // 2
    _check_bound(_max_abs(x) * int(np.abs(kernel).sum()), "upsampling")
    x = np.moveaxis(x, axis, -1)
    length = x.shape[-1]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="edge")
    even = np.zeros(x.shape, dtype=np.int64)
    odd = np.zeros(x.shape, dtype=np.int64)
    for t in range(taps):
        even += kernel[t] * padded[..., t : t + length]
        odd += kernel[taps + t] * padded[..., 1 + t : 1 + t + length]
    out = np.stack([even, odd], axis=-1).reshape(*x.shape[:-1], 2 * length)
    return np.moveaxis(shift_round(out, exponent), -1, axis)


def upsample_fixed(grids: list[np.ndarray], nets: IntegerNetworks) -> np.ndarray:
    """Stack the integer levels (finest first, c_i × h_i × w_i) into Σc_i × h × w fixed point."""
    levels = [np.asarray(g, dtype=np.int64).reshape(-1, *np.shape(g)[-2:]) for g in grids]
    stack = levels[-1] << FRAC_BITS
    for level in range(len(levels) - 2, -1, -1):
        kernel = nets.upsampling[level]
        up = upsample2x_fixed(stack, kernel, nets.upsampling_exponent, axis=2)
        up = upsample2x_fixed(up, kernel, nets.upsampling_exponent, axis=1)
        height, width = levels[level].shape[-2:]
        stack = np.concatenate([levels[level] << FRAC_BITS, up[:, :height, :width]], axis=0)
    return stack


def _activate(layer_spec, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Residual add and activation of one synthesis layer."""
    if layer_spec.kind == "residual":
        _check_bound(_max_abs(y) + _max_abs(x), "residual")
        y = y + x
    return np.maximum(y, 0) if layer_spec.activation == "relu" else y


def synthesis_fixed(x: np.ndarray, nets: IntegerNetworks, arch: ArchConfig) -> np.ndarray:
    """Run the synthesis on fixed-point channels x (C × H × W)."""
    channels, height, width = x.shape
    index = 0
    layers = arch.synthesis
    while index < len(layers):
        if layers[index].kernel == 1:
            # Fuse a run of 1×1 layers and run it on pixel chunks: the wide hidden layer
            # (e.g. 48 channels) never exists for the whole image at once.
            end = index
            while end < len(layers) and layers[end].kernel == 1:
                end += 1
            flat = x.reshape(x.shape[0], -1)
            result = np.empty((layers[end - 1].out_channels, flat.shape[1]), dtype=np.int64)
            for start in range(0, flat.shape[1], CHUNK_PIXELS):
                h = flat[:, start : start + CHUNK_PIXELS]
                for i in range(index, end):
                    y = linear_fixed(nets.synthesis[i], h)
                    h = _activate(layers[i], y, h)
                result[:, start : start + CHUNK_PIXELS] = h
            x = result.reshape(-1, height, width)
            index = end
        else:
            y = conv_fixed(nets.synthesis[index], x)
            x = _activate(layers[index], y, x)
            index += 1
    return x


def integer_decoder_y_hat(
    grids_int: list[np.ndarray], nets_int: IntegerNetworks, arch: ArchConfig
) -> np.ndarray:
    """ŷ (1 × C × h × w float32) from integer levels (finest first), integer arithmetic only."""
    stack = upsample_fixed(grids_int, nets_int)
    out = synthesis_fixed(stack, nets_int, arch)
    # |out| < 2^62; dividing by a power of two is exact in float64 below 2^53, and the final
    # float32 rounding is IEEE round-to-nearest on every machine.
    return (out.astype(np.float64) / float(1 << FRAC_BITS)).astype(np.float32)[None]
