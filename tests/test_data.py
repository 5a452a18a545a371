"""Data locations (``clric_utils.data``): tutorial image, Kodak, training photos."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from clric_utils import data
from clric_utils.errors import DatasetMissingError, ParameterError
from clric_utils.images import read_image
from clric_utils.paths import CLIC_ENV, KODAK_ENV, PHOTOS_ENV


def test_default_image_is_offline_and_readable():
    path = data.default_image_path()
    assert path.is_file()
    assert read_image(path).shape == (512, 512, 3)


def test_kodak_dir_from_environment(kodak_dir: Path, monkeypatch):
    monkeypatch.setenv(KODAK_ENV, str(kodak_dir))
    assert data.kodak_dir() == kodak_dir
    images = data.kodak_images()
    assert [p.name for p in images] == [f"kodim{i:02d}.png" for i in range(1, 25)]
    for name in (13, "13", "kodim13", "kodim13.png", "KODIM13.PNG"):
        assert data.kodak_image(name) == kodak_dir / "kodim13.png"
    for bad in (25, 0, "kodim25.png", "lena.png", "1.5"):
        with pytest.raises(ParameterError, match="from 1 to 24"):
            data.kodak_image(bad)


def test_kodak_files_match_the_sha_table(kodak_dir: Path, monkeypatch):
    monkeypatch.setenv(KODAK_ENV, str(kodak_dir))
    assert data.kodak_dir(verify=True) == kodak_dir


def test_sha_table_matches_shared_sums(kodak_dir: Path):
    sums_file = kodak_dir / "SHA256SUMS"
    if not sums_file.is_file():
        pytest.skip(f"no SHA256SUMS beside the Kodak images in {kodak_dir}")
    table = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            table[name.lstrip("*")] = digest
    assert table == data.KODAK_SHA256


def test_incomplete_kodak_env_folder_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "kodim01.png").write_bytes(b"")
    monkeypatch.setenv(KODAK_ENV, str(tmp_path))
    with pytest.raises(DatasetMissingError, match=rf"{KODAK_ENV}.*lacks 23 Kodak"):
        data.kodak_dir()


def test_missing_kodak_names_variable_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv(KODAK_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DatasetMissingError) as caught:
        data.kodak_dir()
    message = str(caught.value)
    assert KODAK_ENV in message and "http://r0k.us/graphics/kodak/" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_download_fills_cache_and_checks_hashes(kodak_dir: Path, tmp_path, monkeypatch):
    """Simulate the official server with the local copy; a wrong file is rejected and removed."""
    monkeypatch.delenv(KODAK_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    requested = []

    def fake_fetch(url: str, destination: Path) -> None:
        requested.append(url)
        shutil.copyfile(kodak_dir / url.rsplit("/", 1)[1], destination)

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    folder = data.kodak_dir(download=True)
    assert folder == tmp_path / "cache" / "clric" / "kodak"
    assert len(requested) == 24 and requested[0] == "http://r0k.us/graphics/kodak/kodim01.png"
    assert data.kodak_dir() == folder  # now cached: no download needed

    (folder / "kodim05.png").unlink()
    monkeypatch.setattr(data, "_fetch", lambda url, dest: dest.write_bytes(b"not kodak"))
    with pytest.raises(DatasetMissingError, match="SHA-256"):
        data.kodak_dir(download=True)
    assert not (folder / "kodim05.png").exists()


def test_photos_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(PHOTOS_ENV, raising=False)
    with pytest.raises(DatasetMissingError, match=PHOTOS_ENV):
        data.photos_dir()
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.setenv(PHOTOS_ENV, str(tmp_path))
    assert data.photos_dir() == tmp_path
    assert data.photo_paths() == [tmp_path / "a.png"]


# --------------------------------------------------------------------------- CLIC 2020
CLIC_TEST_NAMES = ("alpha-1.png", "beta-2.png", "gamma-3.png")


def _clic_archive(tmp_path: Path) -> Path:
    """A small zip laid out like the official one: PNGs in ``valid/`` plus a stray file."""
    from PIL import Image

    archive = tmp_path / "professional_valid_2020.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("valid/", "")
        for index, name in enumerate(CLIC_TEST_NAMES):
            buffer = io.BytesIO()
            Image.new("RGB", (16 + index, 12), (index * 40, 10, 200)).save(buffer, format="PNG")
            bundle.writestr(f"valid/{name}", buffer.getvalue())
        bundle.writestr("valid/README.txt", "not an image")
    return archive


@pytest.fixture
def clic_names(monkeypatch):
    """The loader expects the three test images instead of the real 41."""
    monkeypatch.setattr(data, "CLIC2020_NAMES", CLIC_TEST_NAMES)
    monkeypatch.delenv(CLIC_ENV, raising=False)
    return CLIC_TEST_NAMES


def test_clic_download_checks_md5_then_unpacks(clic_names, tmp_path, monkeypatch):
    archive = _clic_archive(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "CLIC2020_MD5", data.md5_of(archive))
    requested = []

    def fake_fetch(url: str, destination: Path) -> None:
        requested.append(url)
        shutil.copyfile(archive, destination)

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    folder = data.clic2020_dir(download=True)
    assert requested == [data.CLIC2020_URL]
    assert folder == tmp_path / "cache" / "clric" / "clic2020"
    assert sorted(p.name for p in folder.iterdir()) == sorted(CLIC_TEST_NAMES)  # no zip, no txt
    assert read_image(folder / "beta-2.png").shape == (12, 17, 3)
    assert data.clic2020_images() == [folder / name for name in CLIC_TEST_NAMES]
    assert data.clic2020_image(2) == folder / "beta-2.png"
    with pytest.raises(ParameterError, match="from 1 to 3"):
        data.clic2020_image(4)


def test_clic_download_with_wrong_checksum_is_refused(clic_names, tmp_path, monkeypatch):
    archive = _clic_archive(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_fetch", lambda url, dest: shutil.copyfile(archive, dest))
    with pytest.raises(DatasetMissingError, match=f"expected {data.CLIC2020_MD5}"):
        data.clic2020_dir(download=True)
    assert list((tmp_path / "cache" / "clric" / "clic2020").iterdir()) == []  # nothing kept


def test_clic_offline_error_names_url_and_variable(clic_names, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_fetch", lambda url, dest: pytest.fail("downloaded unasked"))
    with pytest.raises(DatasetMissingError) as caught:
        data.clic2020_dir()
    message = str(caught.value)
    assert data.CLIC2020_URL in message and CLIC_ENV in message


def test_clic_from_environment_folder(clic_names, tmp_path, monkeypatch):
    with zipfile.ZipFile(_clic_archive(tmp_path)) as bundle:
        bundle.extractall(tmp_path / "unpacked")
    monkeypatch.setenv(CLIC_ENV, str(tmp_path / "unpacked"))
    assert data.clic2020_dir() == tmp_path / "unpacked" / "valid"  # the archive's layout
    (tmp_path / "unpacked" / "valid" / "gamma-3.png").unlink()
    with pytest.raises(DatasetMissingError, match=rf"{CLIC_ENV}=.*lacks 1 of the 3"):
        data.clic2020_dir()


def test_dataset_images_by_name_or_folder(kodak_dir: Path, tmp_path, monkeypatch):
    monkeypatch.setenv(KODAK_ENV, str(kodak_dir))
    assert data.dataset_images("kodak") == data.kodak_images()
    (tmp_path / "x.png").write_bytes(b"")
    assert data.dataset_images(tmp_path) == [tmp_path / "x.png"]
    with pytest.raises(ParameterError, match="neither one of kodak, clic2020 nor a folder"):
        data.dataset_images(tmp_path / "nowhere")
