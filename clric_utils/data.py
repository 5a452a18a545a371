"""Where the project's pictures come from: the tutorial image, Kodak, and the training photos.

* ``default_image_path()``: the tutorial's picture, scikit-image's ``astronaut.png`` (Eileen
  Collins, NASA, public domain; 512×512). It is inside the scikit-image wheel, so it needs no
  download and no copy in this repository.
* ``kodak_dir()``: the 24 Kodak PNGs, from ``CLRIC_KODAK_DIR`` when set, else from the cache
  folder (``~/.cache/clric/kodak``), optionally downloaded there from the official site and
  checked against the SHA-256 table below.
* ``clic2020_dir()``: the 41 PNGs of CLIC 2020 Professional validation, from ``CLRIC_CLIC_DIR``
  when set, else from the cache folder (``~/.cache/clric/clic2020``), optionally downloaded
  there as the official archive, checked against its MD5 and unpacked.
* ``dataset_images(name)``: the images of ``kodak``, ``clic2020`` or a folder, by name.
* ``photos_dir()``: the training photos named by ``CLRIC_PHOTOS_DIR`` (never Kodak).
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .atomic import atomic_path
from .errors import DatasetMissingError, ParameterError
from .images import IMAGE_SUFFIXES, image_files
from .paths import CLIC_ENV, KODAK_ENV, PHOTOS_ENV, cache_dir, env_path

#: Official source of the Kodak images; ``{name}`` is ``kodim01.png`` … ``kodim24.png``.
KODAK_URL = "http://r0k.us/graphics/kodak/{name}"

#: SHA-256 of the official Kodak PNGs (the official files' SHA-256).
KODAK_SHA256 = {
    "kodim01.png": "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f",
    "kodim02.png": "1788370471429d992750a09caf6702ac74e56962447de02520d4b161738c0369",
    "kodim03.png": "b9c800ee568f0b18c983817df08d9f7f24a7ddb3abfdc31bde9234c4fde83137",
    "kodim04.png": "0c60c62599ad33fd78b29c36013fbe4120946f6c327c0ef0ec6983297fb48d23",
    "kodim05.png": "ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e",
    "kodim06.png": "f4212cc927d1d579c712843cf8320c7eccb571e5ea80456022ffe99d67e9cd5d",
    "kodim07.png": "7cdd6d63ae0a245f6f9d983d740e11c6808c2efc24f8351aad9b5f676c27b55a",
    "kodim08.png": "5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb",
    "kodim09.png": "4d8d801592aeaf446978bbd1c83b76c498242d0f684769311a4e7248289500bf",
    "kodim10.png": "7aca487dc83db732a5690b7affe8558e9dadf5bb44a4589ba2b607480a07228b",
    "kodim11.png": "c7c02bd6e942d1181518e3ce2d97cf0451e4494a5e9d6ddee276940e4875d746",
    "kodim12.png": "df571f5e66d1aefd764ea77855e81e3be61528c34962a0fd1d50557502162c1e",
    "kodim13.png": "797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d",
    "kodim14.png": "08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846",
    "kodim15.png": "416c475f39b0eb9203ce7f77d2af8824f5bffc1a86a4605865017f04c41639b9",
    "kodim16.png": "5d03303693decdf7a1e1e930b5ca6684283aa80a9e7d8d6a842a74fa5f790640",
    "kodim17.png": "19d90e98e5835efae20a6e17e22e5ac6814ee2c8efb32d188ea4359abaf9f5bd",
    "kodim18.png": "83df267dfec61e9b9d3756c422502160b2fab595650c73a8b12940540ad09ec5",
    "kodim19.png": "86560efe85a13413b228ef7e42dde0d439b25a94fb8e2d6fb1dc1631cf48853b",
    "kodim20.png": "1ae187d92b3a4483b6717f7fd08592846ffdfc340c6424f6756627a27f3d8ea7",
    "kodim21.png": "26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b",
    "kodim22.png": "627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939",
    "kodim23.png": "85c67d7ea758cb0604fb6980ab0c65091a2eefa7b3b50cbb1bc702a60206dfe5",
    "kodim24.png": "9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe",
}

KODAK_NAMES = tuple(sorted(KODAK_SHA256))

#: Seconds to wait for the Kodak server before giving up on one file.
DOWNLOAD_TIMEOUT_S = 60


def default_image_path() -> Path:
    """Path of the tutorial image: scikit-image's ``astronaut.png`` (512×512, public domain)."""
    path = Path(str(importlib.resources.files("skimage") / "data" / "astronaut.png"))
    if not path.is_file():
        raise DatasetMissingError(
            f"the tutorial image {path} is missing from the scikit-image installation; "
            "reinstall scikit-image (`pip install --force-reinstall scikit-image`)"
        )
    return path


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kodak_cache_dir() -> Path:
    """The folder ``kodak_dir(download=True)`` downloads into (``cache_dir()/kodak``)."""
    return cache_dir() / "kodak"


def _missing_kodak(folder: Path) -> list[str]:
    """Names of Kodak images absent from ``folder``."""
    return [name for name in KODAK_NAMES if not (folder / name).is_file()]


def _how_to_get_kodak() -> str:
    """One sentence on the two ways to make the Kodak images available."""
    return (
        f"set {KODAK_ENV} to a folder holding kodim01.png … kodim24.png, or download them "
        f"from {KODAK_URL.format(name='')} (kodim01.png …) with "
        f"`python -c 'from clric_utils.data import kodak_dir; kodak_dir(download=True)'` "
        f"into {kodak_cache_dir()}"
    )


def _fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically (``atomic.py``: never half a file)."""
    with atomic_path(destination) as temporary, urllib.request.urlopen(
        url, timeout=DOWNLOAD_TIMEOUT_S
    ) as response:
        temporary.write_bytes(response.read())


def _download_kodak(folder: Path, names: list[str]) -> None:
    """Download ``names`` into ``folder``, checking every file's SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        url = KODAK_URL.format(name=name)
        destination = folder / name
        try:
            _fetch(url, destination)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise DatasetMissingError(
                f"could not download {url} ({error}); {_how_to_get_kodak()}"
            ) from None
        digest = sha256_of(destination)
        if digest != KODAK_SHA256[name]:
            destination.unlink()
            raise DatasetMissingError(
                f"{url} downloaded with SHA-256 {digest}, expected {KODAK_SHA256[name]}; "
                "the file was deleted. " + _how_to_get_kodak()
            )


def kodak_dir(download: bool = False, verify: bool = False) -> Path:
    """Folder with kodim01.png … kodim24.png: ``CLRIC_KODAK_DIR``, else the (downloaded) cache."""
    folder = env_path(KODAK_ENV)
    if folder is not None:
        if not folder.is_dir():
            raise DatasetMissingError(
                f"{KODAK_ENV}={folder} is not a folder; {_how_to_get_kodak()}"
            )
        missing = _missing_kodak(folder)
        if missing:
            raise DatasetMissingError(
                f"{KODAK_ENV}={folder} lacks {len(missing)} Kodak image(s) "
                f"({', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}); "
                "it must hold kodim01.png … kodim24.png"
            )
    else:
        folder = kodak_cache_dir()
        missing = _missing_kodak(folder)
        if missing and download:
            _download_kodak(folder, missing)
        elif missing:
            raise DatasetMissingError(
                f"the Kodak images are not on this machine: {_how_to_get_kodak()}"
            )
    if verify:
        for name in KODAK_NAMES:
            if sha256_of(folder / name) != KODAK_SHA256[name]:
                raise DatasetMissingError(
                    f"{folder / name} is not the official Kodak file (SHA-256 mismatch)"
                )
    return folder


def kodak_images(download: bool = False) -> list[Path]:
    """Paths of kodim01.png … kodim24.png, in order."""
    folder = kodak_dir(download=download)
    return [folder / name for name in KODAK_NAMES]


def kodak_image(number: int | str, download: bool = False) -> Path:
    """Path of one Kodak image, given as 13, "13", "kodim13" or "kodim13.png"."""
    text = str(number).strip().lower().removesuffix(".png").removeprefix("kodim")
    if not text.isdigit() or not 1 <= int(text) <= len(KODAK_NAMES):
        raise ParameterError(
            f"no Kodak image {number!r}: give a number from 1 to {len(KODAK_NAMES)} "
            "or a name such as 'kodim13.png'"
        )
    return kodak_dir(download=download) / f"kodim{int(text):02d}.png"


# --------------------------------------------------------------------------- CLIC 2020
#: Official archive of CLIC 2020 Professional validation (41 PNGs in a folder ``valid/``).
CLIC2020_URL = "https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip"

#: MD5 of that archive, as pinned by public loaders (e.g. google-deepmind/c3_neural_compression
#: utils/data_loading.py); no SHA-256 of it is published.
CLIC2020_MD5 = "7111ee240435911db04dbc5f40d50272"

#: The 41 file names of the set, sorted; "CLIC image 6" in the paper's supplement is taken to be
#: the 6th of them. The names are those of Cool-chic's published per-image results on this set
#: (Orange-OpenSource/Cool-Chic, results/v4.2/image-clic20-pro-valid.tsv).
CLIC2020_NAMES = tuple(
    f"{stem}.png"
    for stem in (
        "alberto-montalesi-176097", "alejandro-escamilla-6", "ales-krivec-15949",
        "alexander-shustov-73", "allef-vinicius-109434", "amy-zhang-15940", "andrew-ruiz-376",
        "benjamin-sloth-lindgreen-705", "casey-fyfe-999", "clem-onojeghuo-33741",
        "daniel-robert-405", "davide-ragusa-716", "dogancan-ozturan-395",
        "felix-russell-saw-140699", "gian-reto-tarnutzer-45212", "jared-erondu-21325",
        "jason-briscoe-149782", "jeremy-cai-1174", "juskteez-vu-1041", "kazuend-28556",
        "lobostudio-hamburg-75377", "martin-wessely-211", "martyn-seddon-220",
        "michael-durana-82941", "mullermarc-184", "nomao-saeki-33553", "paul-itkin-46101",
        "philipp-reiner-207", "philippe-wuyts-45997", "roberto-nickson-48063", "schicka-307",
        "sergey-zolkin-1045", "sergey-zolkin-21232", "stefan-kunze-26931", "thong-vo-428",
        "todd-quackenbush-222", "todd-quackenbush-27493", "veeterzy-82537", "vita-vilcina-3055",
        "wojciech-szaturski-3611", "zugr-108",
    )
)  # fmt: skip


def md5_of(path: Path) -> str:
    """Hex MD5 of a file's bytes (only to match a published archive checksum)."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clic2020_cache_dir() -> Path:
    """The folder ``clic2020_dir(download=True)`` unpacks into (``cache_dir()/clic2020``)."""
    return cache_dir() / "clic2020"


def _how_to_get_clic() -> str:
    """One sentence on the two ways to make CLIC 2020 Professional validation available."""
    return (
        f"set {CLIC_ENV} to a folder holding its 41 PNGs (or the unpacked archive's valid/), "
        f"or download {CLIC2020_URL} with "
        "`python -c 'from clric_utils.data import clic2020_dir; clic2020_dir(download=True)'` "
        f"into {clic2020_cache_dir()}"
    )


def _clic_images_folder(folder: Path) -> Path:
    """``folder`` or its ``valid/`` subfolder (the archive's layout), whichever holds PNGs."""
    inner = folder / "valid"
    if not any(folder.glob("*.png")) and inner.is_dir():
        return inner
    return folder


def _missing_clic(folder: Path) -> list[str]:
    """Names of CLIC 2020 Professional validation images absent from ``folder``."""
    return [name for name in CLIC2020_NAMES if not (folder / name).is_file()]


def _unpack_clic(archive: Path, folder: Path) -> None:
    """Extract the PNGs of ``archive`` flat into ``folder`` (no path from the archive is used)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                name = Path(member.filename).name
                if member.is_dir() or not name.lower().endswith(".png"):
                    continue
                (folder / name).write_bytes(bundle.read(member))
    except zipfile.BadZipFile as error:
        raise DatasetMissingError(f"{archive} is not a readable zip archive ({error})") from None


def _download_clic(folder: Path) -> None:
    """Download the official archive, check its MD5, unpack it into ``folder``, delete it."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "professional_valid_2020.zip"
    try:
        _fetch(CLIC2020_URL, archive)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DatasetMissingError(
            f"could not download {CLIC2020_URL} ({error}); {_how_to_get_clic()}"
        ) from None
    try:
        digest = md5_of(archive)
        if digest != CLIC2020_MD5:
            raise DatasetMissingError(
                f"{CLIC2020_URL} downloaded with MD5 {digest}, expected {CLIC2020_MD5}; the "
                "archive was deleted and nothing was unpacked. " + _how_to_get_clic()
            )
        _unpack_clic(archive, folder)
    finally:
        archive.unlink(missing_ok=True)


def clic2020_dir(download: bool = False) -> Path:
    """Folder with the 41 CLIC 2020 Professional validation PNGs: ``CLRIC_CLIC_DIR``, else the
    (downloaded) cache. The download happens only when asked (``download=True``)."""
    folder = env_path(CLIC_ENV)
    if folder is not None:
        if not folder.is_dir():
            raise DatasetMissingError(f"{CLIC_ENV}={folder} is not a folder; {_how_to_get_clic()}")
        folder = _clic_images_folder(folder)
        missing = _missing_clic(folder)
        if missing:
            raise DatasetMissingError(
                f"{CLIC_ENV}={folder} lacks {len(missing)} of the {len(CLIC2020_NAMES)} CLIC 2020 "
                f"Professional validation images ({', '.join(missing[:3])}"
                f"{' …' if len(missing) > 3 else ''})"
            )
        return folder
    folder = clic2020_cache_dir()
    missing = _missing_clic(folder)
    if missing and download:
        _download_clic(folder)
        missing = _missing_clic(folder)
        if missing:
            raise DatasetMissingError(
                f"the archive from {CLIC2020_URL} lacks {len(missing)} expected image(s) "
                f"({', '.join(missing[:3])}{' …' if len(missing) > 3 else ''})"
            )
    elif missing:
        raise DatasetMissingError(
            f"CLIC 2020 Professional validation is not on this machine: {_how_to_get_clic()}"
        )
    return folder


def clic2020_images(download: bool = False) -> list[Path]:
    """Paths of the 41 CLIC 2020 Professional validation images, sorted by name."""
    folder = clic2020_dir(download=download)
    return [folder / name for name in CLIC2020_NAMES]


def clic2020_image(number: int | str, download: bool = False) -> Path:
    """Path of CLIC 2020 Professional validation image ``number`` (1-based, in name order)."""
    text = str(number).strip()
    if not text.isdigit() or not 1 <= int(text) <= len(CLIC2020_NAMES):
        raise ParameterError(
            f"no CLIC 2020 image {number!r}: give a number from 1 to {len(CLIC2020_NAMES)}"
        )
    return clic2020_dir(download=download) / CLIC2020_NAMES[int(text) - 1]


#: Data set names ``dataset_images`` knows, besides a folder path.
DATASETS = ("kodak", "clic2020")


def dataset_images(name: str | Path) -> list[Path]:
    """Images of data set ``kodak`` or ``clic2020``, or the image files in folder ``name``."""
    if str(name) == "kodak":
        return kodak_images()
    if str(name) == "clic2020":
        return clic2020_images()
    folder = Path(name)
    if not folder.is_dir():
        raise ParameterError(
            f"data set {str(name)!r} is neither one of {', '.join(DATASETS)} nor a folder"
        )
    paths = image_files(folder)
    if not paths:
        raise DatasetMissingError(f"{folder} holds no image files")
    return paths


#: File name endings treated as photos in ``photos_dir()`` (``images.IMAGE_SUFFIXES``).
PHOTO_SUFFIXES = IMAGE_SUFFIXES


def photos_dir() -> Path:
    """The training-photo folder named by ``CLRIC_PHOTOS_DIR``."""
    folder = env_path(PHOTOS_ENV)
    if folder is None:
        raise DatasetMissingError(
            f"{PHOTOS_ENV} is not set: point it at a folder of training photos (never Kodak)"
        )
    if not folder.is_dir():
        raise DatasetMissingError(f"{PHOTOS_ENV}={folder} is not a folder")
    return folder


def photo_paths() -> list[Path]:
    """Sorted image files directly inside ``photos_dir()``."""
    folder = photos_dir()
    paths = image_files(folder)
    if not paths:
        raise DatasetMissingError(f"{PHOTOS_ENV}={folder} holds no image files")
    return paths


__all__ = [
    "CLIC2020_MD5",
    "CLIC2020_NAMES",
    "CLIC2020_URL",
    "DATASETS",
    "KODAK_NAMES",
    "KODAK_SHA256",
    "KODAK_URL",
    "clic2020_dir",
    "clic2020_image",
    "clic2020_images",
    "dataset_images",
    "default_image_path",
    "kodak_dir",
    "kodak_image",
    "kodak_images",
    "photo_paths",
    "photos_dir",
    "sha256_of",
]
