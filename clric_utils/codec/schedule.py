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


#: Sized on a 64×96 latent (one 512×768 image), ``paper`` preset, 1 thread, with other jobs on
#: the same 2-core machine: ≈ 13 ms (CPU) per iteration, so ``medium`` ≈ 44 s and ``fast`` ≈ 15 s
#: of CPU per image, wall time the same when a core is free (docs/codec.md, "Efforts").
EFFORTS: dict[str, Effort] = {
    "fast": Effort("fast", softround_iterations=1000, ste_iterations=150, finetune_iterations=50),
    "medium": Effort("medium", softround_iterations=3000, ste_iterations=300,
                     finetune_iterations=100),
    "slow": Effort("slow", softround_iterations=12000, ste_iterations=1000,
                   finetune_iterations=300, check_every=200),
}


def get_effort(name: str | Effort) -> Effort:
    """The effort called ``name`` (an ``Effort`` passes through, e.g. for tests)."""
    if isinstance(name, Effort):
        return name
    if name not in EFFORTS:
        raise ParameterError(f"unknown effort {name!r}; choose one of {sorted(EFFORTS)}")
    return EFFORTS[name]


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


HYPERPARAMETERS = Hyperparameters()

#: Calibration (λ, mean estimated bpp) on Kodak 1 and 13 through the seeded ``tiny`` VAE,
#: ``paper`` preset, 3 600 soft-round iterations (docs/codec.md, "λ grid"); the rate saturates
#: below λ ≈ 0.1. λ weighs bits per *image* pixel against the MSE of the scaled latent
#: (variance ≈ 1). To be re-measured on the ``house`` VAE.
LAMBDA_CALIBRATION: tuple[tuple[float, float], ...] = (
    (30.0, 0.0168), (10.0, 0.0271), (3.0, 0.0458), (1.0, 0.0723), (0.3, 0.1003),
    (0.1, 0.1101), (0.03, 0.1185), (0.01, 0.1202),
)

#: λ values spanning the useful rate range, largest λ (lowest rate) first.
LAMBDA_GRID: tuple[float, ...] = tuple(lmbda for lmbda, _ in LAMBDA_CALIBRATION)
