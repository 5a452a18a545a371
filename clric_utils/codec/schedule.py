"""Training schedule of the codec: efforts (iterations per phase), hyper-parameters, λ grid.

The recipe is Cool-chic's (arXiv 2307.12706 §4, 2403.11651 §3): Adam with a cosine-annealed
learning rate while the grids are soft-rounded with additive noise (temperature and noise
annealed linearly), then a straight-through phase at a small learning rate, then quantization
of the network weights and a short fine-tune of the grids alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError


@dataclass(frozen=True)
class Effort:
    """How many iterations each training phase gets."""

    name: str
    softround_iterations: int  # phase 1: soft-round + noise, lr 1e-2 cosine-annealed
    ste_iterations: int  # phase 2: straight-through rounding, lr 1e-4
    finetune_iterations: int  # phase 4 (after weight quantization): grids only, 'ste'
    check_every: int = 100  # phase 1: evaluate the true (hard) loss and log every N iterations

    @property
    def total_iterations(self) -> int:
        """Gradient steps over all phases."""
        return self.softround_iterations + self.ste_iterations + self.finetune_iterations


#: Sized on a 64×96 latent (one 512×768 image), 1 thread: ≈ 12 ms per iteration for ``paper`` and
#: ≈ 19 ms for ``wide`` (its ARM sees 3.25× the values), so ``medium`` (2 200 iterations) takes
#: ≈ 42 s with ``wide``, as long as package 0.1's ``paper``/``medium`` (3 400 iterations) did
#: (``benchmarks/encode_speed.py`` measures both in one run; docs/codec.md, "Efforts").
EFFORTS: dict[str, Effort] = {
    "fast": Effort("fast", softround_iterations=1000, ste_iterations=150, finetune_iterations=50),
    "medium": Effort("medium", softround_iterations=1800, ste_iterations=300,
                     finetune_iterations=100),
    "slow": Effort("slow", softround_iterations=12000, ste_iterations=1000,
                   finetune_iterations=300, check_every=200),
}


#: The effort of the command line, the API and ``clric eval`` when none is named.
DEFAULT_EFFORT = "medium"


def get_effort(name: str | Effort) -> Effort:
    """The effort called ``name`` (an ``Effort`` passes through, e.g. for tests)."""
    if isinstance(name, Effort):
        return name
    if name not in EFFORTS:
        raise ParameterError(f"unknown effort {name!r}; choose one of {sorted(EFFORTS)}")
    return EFFORTS[name]


def short_effort(iterations: int) -> Effort:
    """An effort of ``iterations`` gradient steps in all (tests, fast mode, ``--iterations``).

    They are split roughly as the named efforts are: ≈ 80 % soft-round, 15 % straight-through,
    the rest fine-tuning after weight quantization (at least one step each).
    """
    n = int(iterations)
    if n < 3:
        raise ParameterError(f"iterations must be ≥ 3 (one per training phase), got {iterations}")
    ste = max(1, round(0.15 * n))
    finetune = max(1, round(0.05 * n))
    softround = n - ste - finetune
    return Effort(f"{n} iterations", softround, ste, finetune, check_every=max(1, softround // 25))


@dataclass(frozen=True)
class Hyperparameters:
    """Learning rates, quantization-relaxation annealing and gradient clipping."""

    learning_rate: float = 1e-2  # phase 1 start, cosine-annealed to 0 over the phase
    ste_learning_rate: float = 1e-4  # phase 2 (constant)
    finetune_learning_rate: float = 1e-4  # phase 4 (constant, grids only)
    # In the straight-through phases the grids' learning rate is divided by this. The grid
    # parameters are stored divided by LATENT_GAIN = 16, so lr 1e-4 would move every grid value
    # by 1.6e-3 quantization steps per iteration in the sign direction of a biased STE gradient:
    # measured on Kodak latents, that *raises* the true loss within ~20 iterations, whereas
    # lr 1e-4 / 16 (the step 1e-4 in quantized units) lowers it steadily.
    ste_grid_lr_divisor: float = 16.0
    temperature: tuple[float, float] = (0.3, 0.1)  # soft-round T, linear from first to second
    noise: tuple[float, float] = (0.25, 0.1)  # half-width of the uniform noise, linear
    # Clip the gradient's global L2 norm. Our loss is in latent units (MSE ≈ 0.01–1 instead of
    # Cool-chic's ≈ 1e-3 on [0, 1] pixels), so the threshold is larger than Cool-chic's 0.1;
    # it only acts on the rare spikes, Adam normalises the rest.
    grad_clip: float = 1.0
    # Phase 1's relaxation of rounding: "softround" (s_T(x) + u) or C3's "softround-twice"
    # (s_T(s_T(x) + u)); measured in docs/codec.md ("Quantization proxy").
    softround_mode: str = "softround"
    # Start from ŷ₀ = Δ·round(y/Δ) where the architecture allows it and λ ≤ the limit
    # (codec/latent_start.py); otherwise, and when False, every grid starts at zero as in
    # Cool-chic. Measured on kodim23 (wide, docs/codec.md §3): at λ = 0.001 the start reaches
    # 28.57 dB (VAE: 28.60) where zero grids stop at ≈ 27.9 dB for any small λ; at λ = 0.3 the
    # same 25.9 dB costs 0.071 bpp from the latent against 0.057 from zero, and at λ = 1 and 10
    # zero is better too. The limit lies between; λ = 0.1 itself was not compared.
    latent_start: bool = True
    latent_start_max_lambda: float = 0.1
    # After a latent start, phase 1 trains the synthesis at this fraction of the learning rate:
    # at lr 1e-2, Adam rescales its ±Δ identity weights by ~30 % per step and the start is lost.
    latent_start_synthesis_lr_scale: float = 0.1


HYPERPARAMETERS = Hyperparameters()

#: Calibration per preset: (λ, mean real bpp, header included) on Kodak through the ``house``
#: VAE, largest λ first (docs/codec.md §4; ``benchmarks/lambda_calibration.py`` prints it from
#: results/kodak_house.csv). ``wide``: package 0.2, ``fast`` effort, all 24 images at every λ;
#: ``paper``: package 0.1's ``medium``, 24
#: images; ``lite`` has not been swept on ``house`` yet and borrows ``paper``'s table (same
#: one-channel grids, fewer network bits). λ weighs bits per *image* pixel against the MSE of
#: the scaled latent (variance ≈ 1). Rate control starts from it; ``clric eval`` sweeps its λs.
LAMBDA_CALIBRATION: dict[str, tuple[tuple[float, float], ...]] = {
    "wide": ((30.0, 0.0151), (10.0, 0.0196), (1.0, 0.0408), (0.1, 0.1202), (0.01, 0.2281),
             (0.001, 0.3240)),
    "paper": ((10.0, 0.0193), (1.0, 0.0336), (0.1, 0.0658)),
    "lite": ((10.0, 0.0193), (1.0, 0.0336), (0.1, 0.0658)),
}


#: Calibration for TAEF2's 32-channel latents (Kodak, package 0.3, ``fast`` effort, the
#: ``weighted-latent`` distortion): the 24 images' mean real bpp per λ of the ``slim`` sweep in
#: results/kodak_taef2.csv (``benchmarks/lambda_calibration.py --csv results/kodak_taef2.csv``).
#: Other presets on 32 channels borrow it. λ has the same meaning as above, but a 32-channel
#: latent has 8× the values per pixel, so a λ buys other rates.
LAMBDA_CALIBRATION_32: dict[str, tuple[tuple[float, float], ...]] = {
    "slim": ((6.0, 0.0557), (3.0, 0.0914), (1.0, 0.1528), (0.3, 0.2532), (0.05, 0.4858),
             (0.005, 0.5948)),
}

#: Calibration tables by latent width (the VAE's channels).
CALIBRATION_BY_CHANNELS = {4: LAMBDA_CALIBRATION, 32: LAMBDA_CALIBRATION_32}


def lambda_calibration(
    preset: str | None, latent_channels: int = 4
) -> tuple[tuple[float, float], ...]:
    """The calibration of ``preset`` on latents of ``latent_channels`` channels.

    Latent widths without a table of their own use the nearest measured width's; presets
    without an entry use the width's first preset's (the default preset's for 4 channels).
    """
    from .arch import DEFAULT_PRESET

    width = min(CALIBRATION_BY_CHANNELS, key=lambda c: (abs(c - latent_channels), c))
    tables = CALIBRATION_BY_CHANNELS[width]
    fallback = tables.get(DEFAULT_PRESET) or next(iter(tables.values()))
    return tables.get(preset or DEFAULT_PRESET, fallback)


def lambda_grid(preset: str | None = None, latent_channels: int = 4) -> tuple[float, ...]:
    """λ values spanning ``preset``'s useful rate range, largest λ (lowest rate) first."""
    return tuple(lmbda for lmbda, _ in lambda_calibration(preset, latent_channels))
