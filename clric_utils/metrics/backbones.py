"""ImageNet backbones for LPIPS and DISTS, read offline from ``CLRIC_TORCHVISION_WEIGHTS``.

The folder holds torchvision ``features`` state dicts (``alexnet_features.pth``,
``vgg16_features.pth``); without the variable, torchvision's normal download is used.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

from ..errors import MissingWeightsError
from ..paths import TORCHVISION_WEIGHTS_ENV, env_path

_FILES = {"alex": "alexnet_features.pth", "vgg": "vgg16_features.pth"}


@cache
def backbone_features_state(net: str) -> dict[str, torch.Tensor]:
    """Return the ImageNet ``features`` state dict of ``alex`` or ``vgg`` (torchvision layout)."""
    if net not in _FILES:
        raise ValueError(f"unknown backbone {net!r}; expected one of {sorted(_FILES)}")
    folder = env_path(TORCHVISION_WEIGHTS_ENV)
    if folder is not None:
        path = folder / _FILES[net]
        if not path.is_file():
            raise MissingWeightsError(
                f"{TORCHVISION_WEIGHTS_ENV}={folder} has no {_FILES[net]}: put the torchvision "
                f"{'alexnet' if net == 'alex' else 'vgg16'} `features` state dict there, "
                f"or unset {TORCHVISION_WEIGHTS_ENV} to download it from torchvision."
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    return _download_features_state(net)


def _download_features_state(net: str) -> dict[str, torch.Tensor]:
    """Download the backbone through torchvision (needs network access)."""
    from torchvision import models

    try:
        if net == "alex":
            model = models.alexnet(weights=models.AlexNet_Weights.IMAGENET1K_V1)
        else:
            model = models.vgg16(weights=models.VGG16_Weights.IMAGENET1K_V1)
    except Exception as exc:  # network errors come in many types; one message covers them
        raise MissingWeightsError(
            f"could not download the torchvision {net} backbone ({type(exc).__name__}). Offline, "
            f"set {TORCHVISION_WEIGHTS_ENV} to a folder holding {_FILES[net]} "
            "(a torchvision `features` state dict)."
        ) from None
    return model.features.state_dict()


def load_features_into(modules: list[nn.Sequential], net: str) -> None:
    """Copy backbone weights into ``modules`` whose children are named by torchvision index."""
    state = backbone_features_state(net)
    for sequential in modules:
        for index, layer in sequential.named_children():
            own = {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".")[0] == index}
            if own:
                layer.load_state_dict(own)
