"""Memory budgets: what encoding or decoding an image of a given size will need, checked first.

A ``.clric`` header claims an image size; a forged 99-byte file can claim 16384×6000 pixels,
and an honest 100-megapixel photo is large too. Before anything is allocated, the decoder
(and the encoder) estimates the memory it will need from the sizes alone and refuses, with
one clear ``ResourceLimitError``, when that exceeds the limit: by default the smaller of
``DEFAULT_MAX_MEMORY_GB`` (4 GB: a 24-megapixel photo is estimated at 3.2 GB to encode and
2.6 GB to decode with the ``paper`` preset and ``house``) and the memory available
on this machine (``MemAvailable``, the control group's limit and the address-space limit of
``ulimit -v`` on Linux); otherwise the
``max_memory`` the caller gives (``--max-memory`` on the command line, in GB), which can raise
or lower the limit.

The estimates are meant as upper bounds. They are fitted to measurements on this project's
machine: peak resident memory above the loaded process, for forged files of 512² to 2048²
pixels (``benchmarks/forge_clric.py``) and for fits of 64×96 and 128×192 latents. Larger
sizes are extrapolated linearly; ``benchmarks/fuzz_decoder.py --forge-headers`` checks the
decoder's side under an address-space cap.

* integer ŷ: 8-byte integers, ≈ 8 arrays as wide as the widest stage of f_ψ, per latent pixel
  (measured 22 bytes per image pixel for the paper preset; the estimate says 48);
* VAE pass: bytes per pixel from the VAE's channel widths (``house`` measured ≈ 600, estimated
  ≈ 850), times the pixels of one tile when the image is tiled (``vae/latents.py``);
* the output image: ≈ 48 bytes per pixel (float32 copies, then 8-bit RGB);
* the fit (encoder only): ≈ 16 float32 activations and gradients per channel of the widest
  stage, per latent pixel (measured ≈ 2.5 KB per latent pixel for ``paper``, estimated 3.1 KB).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

from .errors import ParameterError, ResourceLimitError

#: Bytes per image pixel of the float and 8-bit copies of the decoded or input picture.
IMAGE_BYTES_PER_PIXEL = 48
#: int64 arrays per latent pixel and channel of the widest stage of the integer decoder.
YHAT_ARRAYS = 8
#: float32 values per latent pixel and channel of the widest stage during the fit.
FIT_VALUES = 16
#: Activations per pixel and channel kept by a VAE pass (fitted: AutoencoderTiny, KL).
VAE_ARRAYS = {"tiny": 5, "kl": 10}
#: Bytes per pixel assumed for a VAE object that is not a FrozenVae (widths unknown): a guess
#: between ``house`` (≈ 850 estimated) and Stable Diffusion's (≈ 9 300); ``max_memory`` rules.
UNKNOWN_VAE_BYTES_PER_PIXEL = 2_000
GB = 1 << 30
#: Default limit, in GB, when the caller gives none (and the machine has that much available).
DEFAULT_MAX_MEMORY_GB = 4.0
#: Where Linux control groups (v2, then v1) state a memory limit and the current usage.
_CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo (else free physical pages), in bytes; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_available() -> int | None:
    """Bytes left under this process's control-group memory limit (None: no limit found)."""
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            with open(limit_file, encoding="ascii") as handle:
                limit = handle.read().strip()
            with open(usage_file, encoding="ascii") as handle:
                usage = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a huge number: no limit
            return max(0, int(limit) - usage)
    return None


def _address_space_available() -> int | None:
    """Bytes left under this process's address-space limit (``ulimit -v``; None: no limit)."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return max(0, limit - int(line.split()[1]) * 1024)
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation here (None if unknown): the least of
    the machine's, the control group's and the address space's (``ulimit -v``) headroom."""
    known = [value for value in (_meminfo_available(), _cgroup_available(),
                                 _address_space_available()) if value is not None]
    return min(known) if known else None


def widest_stage(arch, n_grids: int) -> int:
    """Channels of the widest array of the integer decoder (grid stack or synthesis layer)."""
    return max(arch.grid_channels(n_grids), *(layer.out_channels for layer in arch.synthesis))


def yhat_bytes(arch, latent_pixels: int, n_grids: int) -> int:
    """Estimated peak bytes of the integer decoder rebuilding ŷ."""
    return 8 * YHAT_ARRAYS * widest_stage(arch, n_grids) * latent_pixels


def fit_bytes(arch, latent_pixels: int, n_grids: int) -> int:
    """Estimated peak bytes of overfitting f_ψ to a latent of ``latent_pixels``."""
    return 4 * FIT_VALUES * widest_stage(arch, n_grids) * latent_pixels


def vae_bytes_per_pixel(vae) -> int:
    """Estimated peak bytes per image pixel of one VAE pass (decoder widths; see module doc)."""
    config = getattr(getattr(vae, "model", None), "config", None)
    kind = getattr(vae, "kind", None)
    if kind == "tiny":
        widths = getattr(config, "decoder_block_out_channels", None)
    else:
        widths = getattr(config, "block_out_channels", None)
    if kind not in VAE_ARRAYS or not widths:
        return UNKNOWN_VAE_BYTES_PER_PIXEL
    # Widths coarse → fine for the tiny decoder, fine → coarse for KL: the finest is largest
    # in pixels. Level l (0 = full resolution) has 4^-l as many pixels.
    fine_first = list(widths)[::-1] if kind == "tiny" else list(widths)
    channels_per_pixel = sum(int(c) / 4**level for level, c in enumerate(fine_first))
    return math.ceil(4 * VAE_ARRAYS[kind] * channels_per_pixel)


def vae_pass_bytes(vae, height: int, width: int) -> int:
    """Estimated peak bytes of one VAE pass over an image (one tile's worth when tiled)."""
    from .vae.latents import TILE_LATENT

    pixels = height * width
    uses_tiles = getattr(vae, "uses_tiles", None)
    if uses_tiles is not None and uses_tiles(height, width):
        side = TILE_LATENT * getattr(vae, "downsampling", 8)
        pixels = min(pixels, side * side)
    return vae_bytes_per_pixel(vae) * pixels


def limit_bytes(max_memory: float | None) -> tuple[int, str]:
    """The limit in bytes and how to describe it (``max_memory`` in GB; None: the default)."""
    if max_memory is not None:
        return int(max_memory * GB), "the --max-memory limit"
    available = available_memory()
    default = int(DEFAULT_MAX_MEMORY_GB * GB)
    if available is not None and available < default:
        return available, "the memory available on this machine"
    return default, "the default limit"


def check_budget(needed: int, max_memory: float | None, what: str) -> None:
    """Raise ResourceLimitError when ``needed`` bytes exceed the limit (see ``limit_bytes``)."""
    limit, description = limit_bytes(max_memory)
    if needed > limit:
        raise ResourceLimitError(
            f"{what} needs about {_size(needed)} of memory, more than {description} "
            f"({_size(limit)}); pass --max-memory {math.ceil(needed / GB)} (max_memory= in "
            "Python) to try anyway"
        )


#: Texts of allocation failures that torch raises as RuntimeError (CPU and CUDA allocators).
_TORCH_ALLOCATION_FAILURES = ("can't allocate memory", "DefaultCPUAllocator", "out of memory")


def is_allocation_failure(error: BaseException) -> bool:
    """Whether ``error`` says that memory could not be allocated (numpy, PIL, torch)."""
    if isinstance(error, MemoryError):
        return not isinstance(error, ResourceLimitError)
    if isinstance(error, RuntimeError):  # torch.OutOfMemoryError is a RuntimeError too
        return any(text in str(error) for text in _TORCH_ALLOCATION_FAILURES)
    return False


@contextlib.contextmanager
def memory_errors(what: str) -> Iterator[None]:
    """Turn an allocation failure inside the block into one ResourceLimitError naming ``what``.

    The budgets above are estimates; a machine with less memory than it reports, a process
    under ``ulimit -v`` or a GPU shared with others can still fail an allocation. That is a
    resource problem, never a corrupted file nor a traceback from inside torch or numpy.
    """
    try:
        yield
    except BaseException as error:
        if not is_allocation_failure(error):
            raise
        raise out_of_memory(what, error) from None


def out_of_memory(what: str, error: BaseException) -> ResourceLimitError:
    """The one error (and message) of an allocation failure while doing ``what``."""
    return ResourceLimitError(
        f"{what} ran out of memory ({type(error).__name__}); free memory, use a smaller "
        "image, or lower --max-memory so that the budget refuses it up front"
    )


def _size(n_bytes: int) -> str:
    """A byte count in GB (or MB below 1 GB) for messages."""
    return f"{n_bytes / GB:.1f} GB" if n_bytes >= GB else f"{n_bytes / (1 << 20):.0f} MB"


def check_max_memory(max_memory: float | None) -> float | None:
    """``max_memory`` (GB) as a float, or ParameterError unless it is None or finite > 0."""
    return None if max_memory is None else positive_limit(max_memory, "max_memory", "GB")


def positive_limit(value, name: str, unit: str) -> float:
    """A limit given as ``name`` in ``unit`` as a float; ParameterError unless finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number of {unit}, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ParameterError(f"{name} must be a finite number of {unit} > 0, got {value!r}")
    return number
