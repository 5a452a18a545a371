"""Full-reference image quality: PSNR, MS-SSIM, LPIPS (alex, vgg) and DISTS, all offline.

Every function takes two RGB images of the same size, each either a torch tensor in [-1, 1]
(``3×H×W`` or ``1×3×H×W``) or a ``uint8`` numpy array ``H×W×3``, and returns a Python float.
Both forms give the same numbers: a uint8 array ``u`` is read as the tensor ``u / 127.5 - 1``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch

from ..errors import ImageReadError, MissingWeightsError
from .backbones import load_features_into

ImageLike = torch.Tensor | np.ndarray

#: Keys of :func:`all_metrics`, in the order of the evaluation CSV columns.
METRIC_NAMES = ("psnr", "ms_ssim", "lpips_alex", "lpips_vgg", "dists")

#: MS-SSIM with 5 scales and an 11-tap window needs both sides larger than (11 - 1) · 2⁴.
MS_SSIM_MIN_SIDE = 161


def to_unit_tensor(
    image: ImageLike,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Return ``image`` as a ``1×3×H×W`` tensor in [0, 1] (clamped) of ``dtype``."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ImageReadError(
                f"expected a uint8 H×W×3 array, got {image.dtype} with shape {image.shape}"
            )
        # Same arithmetic as the [-1, 1] path below so both inputs give bit-identical tensors.
        signed = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].to(dtype)
        tensor = signed / 127.5 - 1.0
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().to(dtype)
        if tensor.ndim == 3:
            tensor = tensor[None]
        if tensor.ndim != 4 or tensor.shape[:2] != (1, 3):
            raise ImageReadError(
                f"expected a tensor of shape 3×H×W or 1×3×H×W, got {tuple(image.shape)}"
            )
    else:
        raise ImageReadError(f"expected a torch tensor or numpy array, got {type(image).__name__}")
    if device is not None:
        tensor = tensor.to(device)
    return ((tensor.clamp(-1.0, 1.0) + 1.0) / 2.0).contiguous()


def _pair(
    a: ImageLike,
    b: ImageLike,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as [0, 1] tensors on one device, checked to have the same size."""
    if device is None:
        device = next((x.device for x in (a, b) if isinstance(x, torch.Tensor)), "cpu")
    ta, tb = to_unit_tensor(a, device, dtype), to_unit_tensor(b, device, dtype)
    if ta.shape != tb.shape:
        raise ImageReadError(
            f"images differ in size: {tuple(ta.shape[2:])} vs {tuple(tb.shape[2:])}"
        )
    return ta, tb


def psnr(a: ImageLike, b: ImageLike) -> float:
    """RGB PSNR in dB (peak 1 on [0, 1], i.e. 255 on 8-bit); ``inf`` for identical images."""
    # float64 throughout: the MSE of near-identical 8-bit images is ~1e-6 and float32 drifts.
    ta, tb = _pair(a, b, dtype=torch.float64)
    mse = torch.mean((ta - tb) ** 2).item()
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def ms_ssim(a: ImageLike, b: ImageLike) -> float:
    """MS-SSIM (5 scales, Wang et al. 2003 weights, data range 1); NaN if a side is < 161 px.

    The standard definition needs four 2× downsamplings of an 11-tap window, hence the
    minimum size. A reduced-scale variant would not be comparable to published numbers, so
    smaller images get NaN instead of a different metric under the same name.
    """
    from pytorch_msssim import ms_ssim as _ms_ssim

    ta, tb = _pair(a, b)
    if min(ta.shape[-2:]) < MS_SSIM_MIN_SIDE:
        return math.nan
    return float(_ms_ssim(ta, tb, data_range=1.0, size_average=True).item())


def lpips(a: ImageLike, b: ImageLike, net: str = "alex") -> float:
    """LPIPS v0.1 distance with the ``alex`` or ``vgg`` backbone (0 for identical images)."""
    if net not in ("alex", "vgg"):
        raise ValueError(f"unknown LPIPS backbone {net!r}; expected 'alex' or 'vgg'")
    from .lpips_offline import load_lpips  # imported here: lpips pulls in all of torchvision

    ta, tb = _pair(a, b)
    model = load_lpips(net, str(ta.device))
    with torch.no_grad():
        return float(model(ta * 2 - 1, tb * 2 - 1).flatten()[0].item())


def dists_weights_path() -> Path:
    """Where ``DISTS_pytorch`` keeps its alpha/beta weights (package folder, else sys.prefix)."""
    import DISTS_pytorch

    # pip installs weights.pt both in the package folder and (as data_files) in sys.prefix;
    # the package reads only the latter, which breaks in a relocated environment.
    candidates = [
        Path(DISTS_pytorch.__file__).parent / "weights.pt",
        Path(sys.prefix) / "weights.pt",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(
        "DISTS weights.pt not found in "
        + " or ".join(str(p.parent) for p in candidates)
        + ": reinstall DISTS_pytorch==0.1"
    )


class _OfflineVggModels:
    """Stand-in for ``torchvision.models`` inside DISTS_pt: an untrained VGG16 ``features``."""

    class _Vgg:
        def __init__(self) -> None:
            from torchvision.models.vgg import cfgs, make_layers

            # Only the convolutional trunk: building the 100 M-parameter classifier is wasted work.
            self.features = make_layers(cfgs["D"], batch_norm=False)

    @classmethod
    def vgg16(cls, *args: object, **kwargs: object) -> _OfflineVggModels._Vgg:
        """Return an object whose ``features`` has VGG16's layout and random weights."""
        return cls._Vgg()


@cache
def load_dists(device: str = "cpu") -> torch.nn.Module:
    """Return a frozen DISTS model (inputs in [0, 1]) built without any download."""
    from DISTS_pytorch import DISTS_pt

    # DISTS.__init__ calls models.vgg16(pretrained=True), which downloads; swap the module
    # DISTS_pt sees for one that builds the trunk, then load our offline backbone into it.
    original = DISTS_pt.models
    DISTS_pt.models = _OfflineVggModels
    try:
        model = DISTS_pt.DISTS(load_weights=False)
    finally:
        DISTS_pt.models = original
    stages = [getattr(model, f"stage{i}") for i in range(1, 6)]
    load_features_into(stages, "vgg")
    weights = torch.load(dists_weights_path(), map_location="cpu", weights_only=True)
    model.alpha.data = weights["alpha"]
    model.beta.data = weights["beta"]
    model.eval().requires_grad_(False)
    return model.to(device)


def dists(a: ImageLike, b: ImageLike) -> float:
    """DISTS (Ding et al. 2020) distance; ≈0 for identical images."""
    ta, tb = _pair(a, b)
    model = load_dists(str(ta.device))
    with torch.no_grad():
        return float(model(ta, tb).flatten()[0].item())


def all_metrics(
    reference: ImageLike,
    distorted: ImageLike,
    metrics: Sequence[str] = METRIC_NAMES,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Every metric in ``metrics`` (default all of :data:`METRIC_NAMES`); skipped ones are NaN."""
    unknown = set(metrics) - set(METRIC_NAMES)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; expected some of {METRIC_NAMES}")
    # Convert once so the numpy → tensor work and device copy are not repeated per metric.
    ta, tb = _pair(reference, distorted, device)
    ta, tb = ta * 2 - 1, tb * 2 - 1
    functions = {
        "psnr": lambda x, y: psnr(reference, distorted),  # float64 from the originals
        "ms_ssim": ms_ssim,
        "lpips_alex": lambda x, y: lpips(x, y, "alex"),
        "lpips_vgg": lambda x, y: lpips(x, y, "vgg"),
        "dists": dists,
    }
    return {name: functions[name](ta, tb) if name in metrics else math.nan for name in METRIC_NAMES}
