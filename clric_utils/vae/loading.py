"""``load_vae``: find a VAE's weights on this machine (or download them) and wrap them.

Accepted names: a short name of ``registry.VAES`` (``house``, ``taef2``, ``tiny``, ``sd``,
``sd-in``, ``sdxl``, ``taesd``, ``taesdxl``), a local diffusers folder (with ``config.json``, or
with a ``vae/config.json``), a folder holding TAEF2's two official files, or a Hugging Face id
``org/name`` (``org/name/subfolder`` for a VAE inside a pipeline repository).

``taef2`` is looked for in ``$CLRIC_MODELS_DIR/taef2``, then in the package (where it ships),
then in ``~/.cache/clric/taef2``, and downloaded there from its official URLs (SHA-256
checked) unless ``HF_HUB_OFFLINE`` is set. ``taef2-c4`` takes its own file from
``$CLRIC_MODELS_DIR/taef2-c4``, else from the package, and TAEF2's from wherever ``taef2`` is.
Lookup order for Hugging Face weights:

1. ``$CLRIC_MODELS_DIR/<short name>``, ``$CLRIC_MODELS_DIR/<org>--<name>``,
   ``$CLRIC_MODELS_DIR/<name>`` (each either the VAE folder or a folder holding ``<subfolder>/``);
2. the Hugging Face cache (``local_files_only=True``);
3. the network, unless ``HF_HUB_OFFLINE`` is set.

When all fail, one ``MissingWeightsError`` says where it looked and what to download where.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from ..devices import check_device
from ..errors import MissingWeightsError, ParameterError
from ..paths import MODELS_ENV, env_path
from .latents import FrozenVae
from .registry import TAEF2_C4_DIR, TAEF2_DIR, VAE_NAMES, VAES, VaeSpec, house_dir, spec_for_repo
from .taef2 import TAEF2_COMMIT, TAEF2_SHA256, TAEF2_URL, download_hint, is_taef2_folder, load_taef2
from .tiny import build_tiny_vae

#: Keyword arguments of every ``from_pretrained`` call: float32, no ``accelerate`` needed.
_LOAD_KWARGS = {"torch_dtype": torch.float32, "low_cpu_mem_usage": False}

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w./-]+)?$")


def hf_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids network access to the Hugging Face Hub."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if value in {"1", "ON", "YES", "TRUE"}:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False


def _model_class(kind: str):
    """The diffusers class for a spec ``kind`` (``""``: decide from config.json)."""
    from diffusers import AutoencoderKL, AutoencoderTiny, AutoModel

    return {"kl": AutoencoderKL, "tiny": AutoencoderTiny}.get(kind, AutoModel)


@contextlib.contextmanager
def _quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' informational warnings (accelerate hints, unused config keys)."""
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            # diffusers still passes this retired huggingface_hub argument.
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            yield
    finally:
        logging.set_verbosity(level)


def _vae_folder(folder: Path, subfolder: str = "") -> Path | None:
    """The diffusers VAE folder at ``folder`` (or its ``subfolder``/``vae``), if there is one."""
    for candidate in (folder / subfolder if subfolder else None, folder, folder / "vae"):
        if candidate is not None and (candidate / "config.json").is_file():
            return candidate
    return None


#: config.json keys whose type is checked before diffusers sees them: key → (test, expected).
_CONFIG_TYPES = {
    "_class_name": (lambda v: isinstance(v, str), "a class name"),
    "latent_channels": (lambda v: _is_int(v) and 1 <= v <= 64, "an integer in 1 … 64"),
    "scaling_factor": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "shift_factor": (lambda v: v is None or _is_number(v), "a number or null"),
    "in_channels": (lambda v: v == 3, "3"),
    "out_channels": (lambda v: v == 3, "3"),
    **{key: (lambda v: isinstance(v, list) and v and all(_is_int(c) and c > 0 for c in v),
             "a list of positive integers")
       for key in ("block_out_channels", "encoder_block_out_channels",
                   "decoder_block_out_channels", "num_encoder_blocks", "num_decoder_blocks")},
}


def _is_int(value) -> bool:
    """A JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_vae_config(folder: Path) -> dict:
    """A VAE folder's config.json, checked: a JSON object whose key fields have usable types.

    Raises MissingWeightsError when it cannot be read and ParameterError when it is not an
    object or a field has the wrong type (e.g. ``"latent_channels": "four"``), so that a
    broken folder is one clear error instead of a traceback from inside diffusers.
    """
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MissingWeightsError(f"{path} is unreadable ({error})") from None
    if not isinstance(config, dict):
        raise ParameterError(f"{path} must hold a JSON object, not a {type(config).__name__}")
    for key, (valid, expected) in _CONFIG_TYPES.items():
        if key in config and not valid(config[key]):
            raise ParameterError(f"{path}: {key} must be {expected}, got {config[key]!r}")
    return config


def _load_folder(folder: Path, spec: VaeSpec, device: str) -> FrozenVae:
    """Load a local diffusers VAE folder as a ``FrozenVae``."""
    config = read_vae_config(folder)
    kind = spec.kind
    if not kind:
        class_name = config.get("_class_name", "")
        kind = {"AutoencoderKL": "kl", "AutoencoderTiny": "tiny"}.get(class_name, "")
        if not kind:
            raise ParameterError(
                f"{folder} holds a {class_name or 'unknown'} model; "
                "load_vae needs a diffusers AutoencoderKL or AutoencoderTiny"
            )
    try:
        with _quiet_diffusers():
            model = _model_class(kind).from_pretrained(folder, **_LOAD_KWARGS)
    except (OSError, ValueError, RuntimeError) as error:
        raise MissingWeightsError(
            f"{folder} has a config.json but its weights could not be loaded "
            f"({_reason(error)}); it needs config.json and diffusion_pytorch_model.safetensors"
        ) from None
    except (TypeError, AttributeError, KeyError, IndexError) as error:  # config values diffusers
        raise ParameterError(  # cannot build a model from, beyond the types checked above
            f"{folder / 'config.json'} does not describe a usable {kind} VAE ({_reason(error)})"
        ) from None
    return FrozenVae(
        model.to(device), spec.name, spec.repo_id, spec.scaling_factor, source=str(folder)
    )


def _models_dir_candidates(spec: VaeSpec) -> list[Path]:
    """Folders under ``$CLRIC_MODELS_DIR`` that may hold ``spec``'s weights."""
    root = env_path(MODELS_ENV)
    if root is None or spec.repo_id is None:
        return []
    org, _, name = spec.repo_id.partition("/")
    names = [spec.name] if spec.name in VAES else []
    names += [f"{org}--{name}", name]
    return [root / n for n in dict.fromkeys(names)]


def _download_command(spec: VaeSpec) -> str:
    """The shell command that puts ``spec``'s weights where ``load_vae`` finds them."""
    target = spec.name if spec.name in VAES else spec.repo_id.replace("/", "--")
    files = " ".join(spec.files)
    return f"hf download {spec.repo_id} {files} --local-dir $CLRIC_MODELS_DIR/{target}"


def _missing(spec: VaeSpec, looked: list[str], why: str, offline: bool) -> MissingWeightsError:
    """The one error raised when ``spec``'s weights are nowhere to be found."""
    where = "; ".join(looked)
    size = f" (about {spec.download_mb:g} MB)" if spec.download_mb else ""
    return MissingWeightsError(
        f"weights of VAE {spec.name!r} (Hugging Face id {spec.repo_id}"
        f"{', subfolder ' + spec.subfolder if spec.subfolder else ''}) are not on this machine "
        f"and {why}. Looked in: {where}. To fix, on a machine with network run "
        f"`{_download_command(spec)}`{size}, copy that folder here and set {MODELS_ENV} to the "
        "folder that contains it"
        + (" (or unset HF_HUB_OFFLINE to download into the Hugging Face cache)" if offline else "")
    )


def _reason(error: BaseException) -> str:
    """First line of an error and of its root cause (diffusers hides network errors)."""

    def first_line(e: BaseException) -> str:
        text = str(e).strip()
        return text.splitlines()[0] if text else type(e).__name__

    root, seen = error, {id(error)}
    while True:
        parent = root.__cause__ or root.__context__
        if parent is None or id(parent) in seen:
            break
        root = parent
        seen.add(id(root))
    if root is error:
        return first_line(error)
    return f"{first_line(error)}; cause: {first_line(root)}"


def _load_hub(spec: VaeSpec, device: str) -> FrozenVae:
    """Load a Hugging Face VAE from ``$CLRIC_MODELS_DIR``, the HF cache, or the network."""
    from huggingface_hub import constants

    looked = []
    candidates = _models_dir_candidates(spec)
    for candidate in candidates:
        folder = _vae_folder(candidate, spec.subfolder)
        if folder is not None:
            return _load_folder(folder, spec, device)
    if candidates:
        looked.append(f"${MODELS_ENV} → " + ", ".join(str(c) for c in candidates))
    else:
        looked.append(f"${MODELS_ENV} (not set)")
    looked.append(f"the Hugging Face cache {constants.HF_HUB_CACHE}")

    cls = _model_class(spec.kind)
    kwargs = {"subfolder": spec.subfolder or None, **_LOAD_KWARGS}
    try:
        with _quiet_diffusers():
            model = cls.from_pretrained(spec.repo_id, local_files_only=True, **kwargs)
    except Exception:  # any failure here means "not usable from the cache"
        model = None
    if model is None:
        if hf_offline():
            raise _missing(spec, looked, "HF_HUB_OFFLINE is set, so nothing is downloaded", True)
        try:
            with _quiet_diffusers():
                model = cls.from_pretrained(spec.repo_id, **kwargs)
        except Exception as error:  # network, authentication, unknown repository: all reported
            why = f"could not be downloaded ({_reason(error)})"
            raise _missing(spec, looked, why, False) from None
    return FrozenVae(
        model.to(device), spec.name, spec.repo_id, spec.scaling_factor, source=spec.repo_id
    )


def _load_house(device: str) -> FrozenVae:
    """Load the ``house`` VAE from the package folder."""
    spec = VAES["house"]
    folder = house_dir()
    if not (folder / "config.json").is_file():
        raise MissingWeightsError(
            f"the house VAE weights are missing from {folder} (config.json and "
            "diffusion_pytorch_model.safetensors); reinstall clric-utils, or train and export "
            "them with `python -m clric_utils.vae.train_house`"
        )
    return _load_folder(folder, spec, device)


def _taef2_folders() -> list[Path]:
    """Where ``taef2`` is looked for, in order (see the module doc)."""
    from ..paths import cache_dir

    root = env_path(MODELS_ENV)
    return ([root / "taef2"] if root else []) + [TAEF2_DIR, cache_dir() / "taef2"]


def _load_taef2_folder(folder: Path, name: str, device: str) -> FrozenVae:
    """A FrozenVae of the TAEF2 files in ``folder`` (SHA-256 checked)."""
    model = load_taef2(folder).to(device)
    vae = FrozenVae(model, name, VAES["taef2"].repo_id, 1.0, source=str(folder))
    from .sensitivity import read_sensitivity

    # Measured once for these weights; a user's folder without the file uses the shipped one.
    vae.channel_sensitivity = read_sensitivity(folder) or read_sensitivity(TAEF2_DIR)
    return vae


def _taef2_folder() -> Path:
    """The first folder that has TAEF2's files, else the cache folder downloaded into."""
    folders = _taef2_folders()
    for folder in folders:
        if is_taef2_folder(folder):
            return folder
    target = folders[-1]
    if hf_offline():
        raise MissingWeightsError(
            f"TAEF2's weights are in none of {', '.join(map(str, folders))} and HF_HUB_OFFLINE "
            f"is set; {download_hint()}"
        )
    from ..data import _fetch

    target.mkdir(parents=True, exist_ok=True)
    for name in TAEF2_SHA256:
        url = TAEF2_URL.format(commit=TAEF2_COMMIT, name=name)
        try:
            _fetch(url, target / name)
        except Exception as error:  # network errors of every kind: one clear message
            raise MissingWeightsError(f"could not download {url} ({_reason(error)}); "
                                      f"{download_hint()}") from None
    return target


def _load_taef2_c4(device: str) -> FrozenVae:
    """``taef2-c4``: its own weights (``$CLRIC_MODELS_DIR/taef2-c4``, else the package's)
    on top of TAEF2's (found, or downloaded, as for ``taef2``)."""
    from .taef2_c4 import WEIGHTS_FILE, load_taef2_c4

    root = env_path(MODELS_ENV)
    folders = ([root / "taef2-c4"] if root else []) + [TAEF2_C4_DIR]
    folder = next((f for f in folders if (f / WEIGHTS_FILE).is_file()), folders[-1])
    model = load_taef2_c4(folder, _taef2_folder()).to(device)
    return FrozenVae(model, "taef2-c4", None, 1.0, source=str(folder))


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, device: str) -> FrozenVae:
    """``load_vae`` without the argument normalisation (cached per name and device)."""
    if name == "tiny":
        vae = FrozenVae(build_tiny_vae().to(device), "tiny", None, VAES["tiny"].scaling_factor)
        vae.source = "built-in (seeded)"
        return vae
    if name == "house":
        return _load_house(device)
    if name == "taef2":
        return _load_taef2_folder(_taef2_folder(), "taef2", device)
    if name == "taef2-c4":
        return _load_taef2_c4(device)
    if name in VAES:
        return _load_hub(VAES[name], device)
    path = Path(name).expanduser()
    if path.is_dir() and is_taef2_folder(path):
        return _load_taef2_folder(path, path.name, device)
    if path.is_dir():
        folder = _vae_folder(path)
        if folder is None:
            raise MissingWeightsError(f"{path} is a folder without config.json or vae/config.json")
        spec = VaeSpec(path.name, None, "", "", None, description=f"local folder {path}")
        return _load_folder(folder, spec, device)
    if name.startswith((".", "/", "~")):
        raise MissingWeightsError(f"{path}: no such folder (expected a diffusers VAE folder)")
    if _HF_ID.match(name):
        org, repo, *rest = name.split("/", 2)
        spec = spec_for_repo(f"{org}/{repo}", rest[0] if rest else None)
        return _load_hub(spec, device)
    raise ParameterError(
        f"unknown VAE {name!r}: use one of {', '.join(VAE_NAMES)}, a local diffusers folder, "
        "or a Hugging Face id such as stabilityai/sd-vae-ft-mse"
    )


def load_vae(name_or_path: str | Path = "house", device: str | torch.device = "cpu") -> FrozenVae:
    """Load a frozen VAE by short name, local folder or Hugging Face id (cached per device)."""
    device = check_device(device)  # a clean ParameterError for an unknown or absent device
    name = str(name_or_path).strip()
    if name not in VAES and Path(name).expanduser().is_dir():
        name = str(Path(name).expanduser().resolve())
    return _load_cached(name, str(torch.device(device)))


def clear_vae_cache() -> None:
    """Forget the VAEs ``load_vae`` has loaded (e.g. after changing ``CLRIC_MODELS_DIR``)."""
    _load_cached.cache_clear()
