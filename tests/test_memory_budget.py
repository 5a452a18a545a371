"""Decompression bombs and huge inputs (issue 15, findings 1, 2 and 9).

Commands that could allocate tens of GB on the old code run in a subprocess whose address
space is capped (``RLIMIT_AS``), so that a regression fails the test instead of the machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clric_utils import memory_budget
from clric_utils.api import decode_budget, decompress, decompress_latent, read_header
from clric_utils.errors import ClricFormatError, ResourceLimitError
from clric_utils.vae import load_vae

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from forge_clric import forge_file  # noqa: E402

#: Address-space cap of the subprocesses: importing torch (CUDA build) maps ≈ 3.5 GB.
ADDRESS_SPACE = 7 << 30

_PEAK = """
import resource, sys
from clric_utils.cli import main
code = main(sys.argv[1:])
print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def capped_clric(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI under the address-space cap; (result, peak resident KB)."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, preexec_fn=_limit_address_space,
    )
    lines = result.stderr.strip().splitlines()
    peak = int(lines.pop().split()[1]) if lines and lines[-1].startswith("peak_rss_kb") else -1
    result.stderr = "\n".join(lines)
    return result, peak


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """The issue's forged file: valid CRC, 16384×6000 claimed, empty payloads (≈ 100 bytes)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.clric"
    path.write_bytes(forge_file(6000, 16384))
    assert path.stat().st_size < 110
    return path


def test_forged_huge_header_is_refused_before_allocating(bomb, tmp_path):
    result, peak = capped_clric("decode", str(bomb), "-o", str(tmp_path / "x.png"))
    line = _one_line(result)
    assert "16384×6000" in line and "memory" in line and "--max-memory" in line
    assert peak < 1_500_000  # KB: nothing beyond the loaded process


def test_forged_header_within_budget_decodes_through_tiles(tmp_path):
    """1152×1152 claimed (> 1 MP: tiled VAE) and within --max-memory 1: a 1152×1152 PNG.

    Peak memory of such decodes is measured by ``benchmarks/fuzz_decoder.py --forge-headers``.
    """
    from clric_utils.images import read_image

    path = tmp_path / "big.clric"
    path.write_bytes(forge_file(1152, 1152))
    output = tmp_path / "x.png"
    result, _ = capped_clric("decode", str(path), "-o", str(output), "--max-memory", "1")
    assert result.returncode == 0, result.stderr
    assert read_image(output).shape == (1152, 1152, 3)
    assert decode_budget(read_header(path), load_vae("tiny")) < 1 << 30


def test_max_memory_lowers_and_raises_the_limit(tmp_path):
    data = forge_file(2048, 2048)
    with pytest.raises(ResourceLimitError, match="--max-memory"):
        decompress(data, max_memory=0.25)
    with pytest.raises(ResourceLimitError):
        decompress_latent(forge_file(6000, 16384), max_memory=2)
    assert decompress_latent(data, max_memory=2).y_hat.shape == (1, 4, 256, 256)


def test_dev_zero_and_oversized_files_are_refused_quickly(tmp_path):
    result, peak = capped_clric("decode", "/dev/zero", "-o", str(tmp_path / "x.png"),
                                timeout=60)
    assert "not a .clric file" in _one_line(result)
    huge = tmp_path / "huge.clric"
    with huge.open("wb") as handle:  # sparse: valid magic and version, then 100 MB of holes
        handle.write(b"CLRC\x02")
        handle.truncate(100 << 20)
    result, peak = capped_clric("info", str(huge), timeout=60)
    assert "MiB" in _one_line(result)
    with pytest.raises(ClricFormatError, match="MiB"):
        read_header(huge)


def test_huge_real_image_is_refused_before_the_vae(tmp_path):
    """A real 16384×6000 PNG (inside the 100 MP cap): one line, nothing allocated."""
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((6000, 16384, 3), dtype=np.uint8)).save(path, compress_level=1)
    result, peak = capped_clric("encode", str(path), "-o", str(tmp_path / "x.clric"),
                                "--vae", "tiny", "--quiet")
    line = _one_line(result)
    assert "16384×6000" in line and "memory" in line
    assert peak < 1_500_000


def test_vae_estimates_follow_the_config():
    house_like = memory_budget.vae_bytes_per_pixel(load_vae("tiny"))
    assert 400 <= house_like <= 2000  # measured ≈ 370–530 bytes per pixel in one pass
    assert memory_budget.vae_bytes_per_pixel(object()) == (
        memory_budget.UNKNOWN_VAE_BYTES_PER_PIXEL)


def test_bad_max_memory_is_a_parameter_error():
    from clric_utils.errors import ParameterError

    for bad in (0, -1, float("nan"), "lots"):
        with pytest.raises(ParameterError):
            decompress_latent(forge_file(64, 64), max_memory=bad)


def test_forged_headers_fuzz_smoke():
    """A few forged files through the full decode under a 2 GB cap (the benchmark runs 10 000)."""
    import fuzz_decoder

    counts, problems = fuzz_decoder.fuzz(25, seed=11, timeout=300, memory_limit=2.0)
    assert problems == []
    assert counts["crash"] == counts["hang"] == 0
    assert counts["decoded"] > 0 and counts["clean_error"] > 0
    assert counts["peak_kb"] < 2 << 20  # KB above the started worker (0: no new peak)


def test_forged_size_is_refused_before_the_named_vae_is_loaded(monkeypatch):
    """A file naming a VAE that would have to be downloaded is refused on its size first."""
    import clric_utils.api as api

    def no_vae(*args, **kwargs):
        raise AssertionError("the VAE was loaded before the budget was checked")

    monkeypatch.setattr(api, "file_vae", no_vae)
    with pytest.raises(ResourceLimitError):
        decompress(forge_file(6000, 16384, vae_name="sd", vae_scaling_factor=0.18215))
