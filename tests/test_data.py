"""Data locations (``clric_utils.data``): tutorial image, Kodak, training photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clric_utils import data
from clric_utils.errors import DatasetMissingError, ParameterError
from clric_utils.images import read_image
from clric_utils.paths import KODAK_ENV, PHOTOS_ENV


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
