"""LPIPS (Zhang et al. 2018) from the ``lpips`` package, with offline backbone weights."""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache

import lpips

from .backbones import load_features_into


@cache
def load_lpips(net: str = "alex", device: str = "cpu") -> lpips.LPIPS:
    """Return a frozen ``lpips.LPIPS`` (v0.1) for ``alex`` or ``vgg``; inputs are in [-1, 1]."""
    # pnet_rand=True keeps lpips from downloading the backbone; we load it ourselves below.
    # lpips prints a banner on construction, and torchvision warns that its ``pretrained``
    # argument is deprecated (since 0.13): neither concerns the caller.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*deprecated since 0\.13.*",
                                category=UserWarning)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    slices = [getattr(model.net, f"slice{i}") for i in range(1, model.net.N_slices + 1)]
    load_features_into(slices, net)
    model.eval().requires_grad_(False)
    return model.to(device)

