"""Reading, converting and writing images: every picture enters the project through here.

Conventions: an *image array* is ``H×W×3`` ``uint8`` RGB; an *image tensor* is ``1×3×H×W``
``float32`` in ``[-1, 1]`` (``x / 127.5 - 1``), the input range of the diffusers VAEs.

``read_image`` accepts what Pillow reads (PNG, JPEG, TIFF, WebP, BMP, …) and turns it into
8-bit RGB: grayscale, palette and two-channel images are expanded; transparency is flattened
onto white (with a warning, only when some pixel is not opaque); 16-bit images are reduced to
8 bits (with a warning); 32-bit integer images (Pillow mode ``I`` from a 32-bit TIFF, or with
values beyond 16 bits) and floating-point ones are refused, since their white level is
unknown; the EXIF orientation of photos is applied; for animated or multi-page files the
first frame is used (with a warning). Colour profiles are ignored.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .atomic import atomic_path
from .bitstream.rules import MAX_PIXELS, MAX_SIDE
from .errors import DatasetMissingError, ImageReadError

#: Smallest accepted side, in pixels: one latent pixel of an 8× VAE. The largest side and
#: image (MAX_SIDE, MAX_PIXELS) are what a ``.clric`` file can hold (``bitstream/rules.py``).
MIN_SIDE = 8

#: File name endings taken as images when a folder is listed (``image_files``).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
#: TIFF tag holding the bits per sample.
_TIFF_BITS_PER_SAMPLE = 258


def check_image_size(width: int, height: int, name: str | Path) -> None:
    """Raise ImageReadError unless both sides are in MIN_SIDE … MAX_SIDE and the pixels
    ≤ MAX_PIXELS: the one check of an image's size, for files, arrays and tensors alike."""
    if max(width, height) > MAX_SIDE:
        raise ImageReadError(
            f"{name}: image of {width}×{height} pixels has a side above the {MAX_SIDE} pixels "
            "a .clric file can hold"
        )
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"{name}: image of {width}×{height} pixels is larger than the "
            f"{MAX_PIXELS // 1_000_000} MP this project accepts"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageReadError(
            f"{name}: image of {width}×{height} pixels is too small; "
            f"both sides must be at least {MIN_SIDE} pixels"
        )


def _sixteen_bit_values(image: Image.Image, path: Path) -> np.ndarray:
    """The samples of a one-channel integer image whose range is 16 bits, as float64.

    Pillow gives mode ``I`` (32-bit) to 16-bit PGM files too, so mode ``I`` is accepted when
    the file says nothing about 32 bits and every value fits in 0 … 65535.
    """
    values = np.asarray(image).astype(np.float64)
    if image.mode != "I":
        return values
    tiff_bits = getattr(image, "tag_v2", {}).get(_TIFF_BITS_PER_SAMPLE, (16,))
    low, high = (values.min(), values.max()) if values.size else (0, 0)
    if max(tiff_bits) > 16 or low < 0 or high > 65535:
        raise ImageReadError(
            f"{path}: 32-bit integer image (values {low:.0f} … {high:.0f}) is not supported, "
            "its white level is unknown; convert it to 8 or 16 bits per sample"
        )
    return values


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth stored in a PNG file's IHDR chunk, or None when it is not a PNG."""
    with path.open("rb") as handle:
        head = handle.read(25)
    if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def _to_rgb(image: Image.Image, path: Path) -> np.ndarray:
    """Convert a loaded Pillow image of any supported mode to an ``H×W×3`` uint8 array."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        values = _sixteen_bit_values(image, path)
        warnings.warn(f"{path}: 16-bit grayscale image reduced to 8 bits", stacklevel=3)
        gray = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageReadError(f"{path}: floating-point images (mode F) are not supported")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("L", "1") and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "CMYK":
        warnings.warn(f"{path}: CMYK converted to RGB without colour management", stacklevel=3)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[:, :, 3:4]
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[:, :, :3])
        warnings.warn(
            f"{path}: image has transparency; flattened onto a white background", stacklevel=3
        )
        a = alpha.astype(np.float64) / 255.0
        flat = rgba[:, :, :3].astype(np.float64) * a + 255.0 * (1.0 - a)
        return np.clip(np.rint(flat), 0, 255).astype(np.uint8)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


@contextlib.contextmanager
def _opened_image(path: str | Path) -> Iterator[tuple[Path, Image.Image]]:
    """Open an image file lazily (pixels not read); every failure becomes ImageReadError."""
    if "\0" in str(path):
        raise ImageReadError(f"{str(path)!r}: the path contains a NUL character")
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    truncated_setting = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a grey image
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; check_image_size's own limit and message decide.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_image_size(*image.size, path)
            yield path, image
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"{path}: refused as too large ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageReadError(f"{path}: corrupted or truncated image ({error})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_setting


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file from its header alone (no pixel is decoded).

    Raises ``ImageReadError`` like ``read_image`` for unreadable files and refused sizes, so
    that a caller can check its memory budget before reading the pixels.
    """
    with _opened_image(path) as (_, image):
        width, height = image.size
    return height, width


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an ``H×W×3`` uint8 RGB array; raise ``ImageReadError`` if unusable."""
    with _opened_image(path) as (path, image):
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            warnings.warn(f"{path}: {frames} frames; only the first is used", stacklevel=2)
        image.load()
        if image.format == "PNG" and image.mode in ("RGB", "RGBA"):
            if _png_bit_depth(path) == 16:
                # Pillow keeps the high byte of each 16-bit sample (≤ 1 level from rounding).
                warnings.warn(f"{path}: 16-bit PNG reduced to 8 bits", stacklevel=2)
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image, path)


def image_files(folder: str | Path) -> list[Path]:
    """Sorted image files (``IMAGE_SUFFIXES``) directly inside ``folder`` (possibly none).

    Raises ``DatasetMissingError`` when ``folder`` does not exist and ``ImageReadError`` when
    it is a file, not a folder.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DatasetMissingError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: is a file, not a folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_image_array(array: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``array`` is an ``H×W×3`` uint8 array."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy array, got {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 array, got shape {tuple(array.shape)}")


def image_to_tensor(array: np.ndarray) -> torch.Tensor:
    """Turn an ``H×W×3`` uint8 array into a ``1×3×H×W`` float32 tensor in ``[-1, 1]``."""
    _check_image_array(array)
    tensor = torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1)[None]
    return tensor.to(torch.float32).div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Turn a ``1×3×H×W`` (or ``3×H×W``) tensor in ``[-1, 1]`` into an ``H×W×3`` uint8 array."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got shape {tuple(tensor.shape)}")
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a 1×3×H×W or 3×H×W tensor, got {tuple(tensor.shape)}")
    values = tensor.detach().to("cpu", torch.float32).add(1.0).mul(127.5)
    values = values.round().clamp(0, 255).to(torch.uint8)
    return values.permute(1, 2, 0).contiguous().numpy()


def save_png(image: np.ndarray | torch.Tensor, path: str | Path) -> Path:
    """Write an image array or image tensor as an 8-bit RGB PNG (creating folders); return path.

    The file is written atomically (``atomic.py``): an existing file is replaced only once
    the new one is complete.
    """
    array = tensor_to_image(image) if isinstance(image, torch.Tensor) else image
    _check_image_array(array)
    path = Path(path)
    with atomic_path(path) as temporary:
        Image.fromarray(array).save(temporary, format="PNG")
    return path


def crop_center(image: np.ndarray | torch.Tensor, height: int, width: int):
    """The central ``height×width`` crop of an ``H×W×C`` array or a ``…×H×W`` tensor."""
    is_tensor = isinstance(image, torch.Tensor)
    full_height, full_width = image.shape[-2:] if is_tensor else image.shape[:2]
    if not (0 < height <= full_height and 0 < width <= full_width):
        raise ValueError(f"cannot crop {height}×{width} from {full_height}×{full_width}")
    top, left = (full_height - height) // 2, (full_width - width) // 2
    if is_tensor:
        return image[..., top : top + height, left : left + width]
    return image[top : top + height, left : left + width]
