"""Decode-work bombs and allocation failures (issue 26, classes 1 and 2).

The forged files are made here (``benchmarks/forge_clric.py``), never stored. What decoding
them used to cost (75–430 s, 1.2–2.6 GB each) is why the work budget exists; these tests check
that they are refused from the header alone, before any decoding starts.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clric_utils import api, work_budget
from clric_utils.cli import main as clric_main
from clric_utils.codec.arch import PRESETS, get_preset, parse_synthesis
from clric_utils.codec.macs import vae_decoder_macs_per_pixel
from clric_utils.commands.info import work_description
from clric_utils.errors import ClricFormatError, ParameterError, ResourceLimitError
from clric_utils.vae import load_vae
from clric_utils.vae.registry import VAES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from forge_clric import forge_file  # noqa: E402
from fuzz_decoder import WORK_BOMBS  # noqa: E402


def bomb_file(height: int, width: int, preset: str, synthesis: str | None) -> bytes:
    """One of the issue's bombs, naming the seeded ``tiny`` VAE (no weights needed)."""
    arch = get_preset(preset)
    if synthesis is not None:
        arch = dataclasses.replace(arch, synthesis=parse_synthesis(synthesis))
    return forge_file(height, width, preset, "tiny", load_vae("tiny").scaling_factor, arch=arch)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any file gets as far as its payload decoder."""
    def refuse(*args, **kwargs):
        raise AssertionError("the payload was decoded before the work budget was checked")

    monkeypatch.setattr(api, "decode_file", refuse)


@pytest.mark.parametrize("bomb", WORK_BOMBS, ids=lambda b: f"{b[0]}x{b[1]}-{b[2]}"
                         + ("-heavy" if b[3] else ""))
def test_every_work_bomb_is_refused_from_its_header(bomb, no_decoding):
    data = bomb_file(*bomb)
    assert len(data) < 140  # bytes: a small file must not buy minutes of CPU
    expected = work_budget.decode_work(api.read_header(data).arch, bomb[0], bomb[1]).megapixels
    assert expected > work_budget.DEFAULT_MAX_WORK_MP
    for decode in (api.decompress, api.decompress_latent):
        with pytest.raises(ResourceLimitError, match=r"--max-work \d+"):
            decode(data, max_memory=100)


def test_heavy_synthesis_counts_its_macs():
    """16 × 80-channel 3×3 layers on 2048×2048: 15 layers of 80·80·9 after a first of 7·80·9."""
    height = width = 2048
    data = bomb_file(height, width, "paper", WORK_BOMBS[3][3])
    work = work_budget.decode_work(api.read_header(data).arch, height, width)
    latent_pixels = (height // 8) * (width // 8)
    grid_channels = get_preset("paper").grid_channels(7)
    synthesis = (grid_channels * 80 + 14 * 80 * 80 + 80 * 4) * 9 * latent_pixels
    assert synthesis < work.f_psi_macs < 1.01 * synthesis  # ARM and upsampling: under 1 %
    assert work.megapixels == pytest.approx(
        work.f_psi_macs / (1e6 * work_budget.heaviest_mac_per_pixel(4, height, width)))


@pytest.mark.parametrize("channels", [4, 32, 64])
def test_every_preset_at_16_megapixels_passes(channels):
    for height, width in ((4000, 4000), (3264, 4896), (16384, 976)):
        assert height * width <= 16_000_000
        for name in PRESETS:
            work = work_budget.decode_work(get_preset(name, channels), height, width)
            work_budget.check_work(work, None, "this")  # raises if refused
    too_big = work_budget.decode_work(get_preset("lite", 4), 4096, 4096)  # 16.8 MP
    with pytest.raises(ResourceLimitError, match="16.8 megapixels"):
        work_budget.check_work(too_big, None, "this")


def test_max_work_raises_the_limit(monkeypatch):
    data = bomb_file(4096, 4096, "paper", None)
    reached = []

    def stop(*args, **kwargs):
        reached.append(True)
        raise ClricFormatError("stopped here by the test")

    monkeypatch.setattr(api, "decode_file", stop)
    with pytest.raises(ResourceLimitError, match="--max-work 17"):
        api.decompress_latent(data, max_memory=100)
    with pytest.raises(ClricFormatError, match="stopped here"):
        api.decompress_latent(data, max_memory=100, max_work=17)
    assert reached == [True]
    for bad in (0, -1, float("nan"), float("inf"), "lots"):
        with pytest.raises(ParameterError, match="max_work"):
            api.decompress_latent(data, max_work=bad)


def test_encode_refuses_an_image_above_the_work_limit(tmp_path, monkeypatch):
    """The VAE part of the work is the picture's: a 17-megapixel input is refused up front
    (its size is patched in, so that no 17-megapixel file has to be written)."""
    monkeypatch.setattr(api, "_image_size", lambda path: (4248, 4000))
    monkeypatch.setattr(api, "_image_tensor", lambda image: pytest.fail("pixels were read"))
    with pytest.raises(ResourceLimitError, match="encoding this 4000×4248 image.*--max-work 17"):
        api.compress(tmp_path / "big.png", vae="tiny", lmbda=1.0, max_memory=100)


def test_cli_refuses_a_bomb_in_one_line(tmp_path, capsys):
    path = tmp_path / "bomb.clric"
    path.write_bytes(bomb_file(2048, 2048, "paper", WORK_BOMBS[4][3]))
    code = clric_main(["decode", str(path), "-o", str(tmp_path / "x.png"), "--max-memory", "100"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and "--max-work 1149" in error[0], error
    assert not (tmp_path / "x.png").exists()
    assert clric_main(["info", str(path)]) == 0
    info = capsys.readouterr().out
    assert "1.15e+03 megapixel-equivalents, ABOVE the default limit of 16" in info


def test_info_states_the_whole_decode_cost():
    data = forge_file(512, 768, "paper", "house", 1.0)
    work = work_description(api.read_header(data))
    assert work["megapixel_equivalents"] == pytest.approx(512 * 768 / 1e6)
    assert work["vae_gmac"] == pytest.approx(512 * 768 * VAES["house"].decoder_mac_per_pixel / 1e9)
    assert work["f_psi_gmac"] == pytest.approx(24.8 * 512 * 768 / 1e9, rel=0.05)  # paper ≈ 25


def _meta_model(kind: str):
    """SD's and TAESD's decoders as diffusers builds them from their configs (no weights)."""
    from diffusers import AutoencoderKL, AutoencoderTiny

    with torch.device("meta"):
        if kind == "kl":  # SD 1.x / 2.x / SD-XL: the same VAE architecture
            return AutoencoderKL(
                block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
            )
        return AutoencoderTiny()


def test_registry_vae_costs_are_counted_not_guessed():
    from clric_utils.vae.taef2_c4 import Taef2C4

    models = {"house": load_vae("house"), "taef2": load_vae("taef2"), "tiny": load_vae("tiny"),
              "taef2-c4": Taef2C4(), "sd": _meta_model("kl"), "taesd": _meta_model("tiny")}
    for name, model in models.items():
        assert VAES[name].decoder_mac_per_pixel == vae_decoder_macs_per_pixel(model, 64, 96), name
    for twin, of in (("sd-in", "sd"), ("sdxl", "sd"), ("taesdxl", "taesd")):
        assert VAES[twin].decoder_mac_per_pixel == VAES[of].decoder_mac_per_pixel


# --- allocation failures: one line, exit 2, never "corrupted" ---------------------------------


def test_numpy_memory_error_is_not_a_corrupted_file(monkeypatch):
    from clric_utils.bitstream import decode as decode_module

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.00 GiB for an array")

    monkeypatch.setattr(decode_module, "decode_grids", exhausted)
    data = forge_file(64, 96)
    with pytest.raises(ResourceLimitError, match="ran out of memory \\(MemoryError\\)") as caught:
        api.decompress_latent(data)
    assert "corrupted" not in str(caught.value)


def test_torch_allocation_failure_in_the_vae_is_one_line(tmp_path, capsys, monkeypatch):
    vae = load_vae("tiny")

    def exhausted(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 4294967296 bytes.")

    monkeypatch.setattr(vae, "decode", exhausted)
    path = tmp_path / "small.clric"
    path.write_bytes(forge_file(64, 96))
    code = clric_main(["decode", str(path), "-o", str(tmp_path / "x.png")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert "ran out of memory (RuntimeError)" in error[0] and "--max-memory" in error[0]
    assert not (tmp_path / "x.png").exists()


def test_other_runtime_errors_are_not_called_memory():
    from clric_utils.memory_budget import is_allocation_failure

    assert not is_allocation_failure(RuntimeError("shapes cannot be multiplied"))
    assert not is_allocation_failure(ResourceLimitError("already one of ours"))
    assert is_allocation_failure(torch.OutOfMemoryError("CUDA out of memory"))


_CAPPED_DECODE = """
import resource, sys
from clric_utils.cli import main
from clric_utils.vae import load_vae
load_vae("tiny")  # imported and loaded before the cap: the cap is then what decoding may add
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
cap = size + (int(sys.argv[1]) << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_real_allocation_failure_under_an_address_space_cap(tmp_path):
    """1024×1024 decoded with 150 MB of address space to spare: one line, exit 2, no PNG.

    (The budgets are told the machine has 100 GB, as a wrong estimate would, so that the
    allocation itself fails: inside numpy or torch, whichever comes first.)
    """
    path = tmp_path / "big.clric"
    path.write_bytes(forge_file(1024, 1024))
    output = tmp_path / "x.png"
    result = subprocess.run(
        [sys.executable, "-c", _CAPPED_DECODE, "150", "decode", str(path), "-o", str(output),
         "--max-memory", "100"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "ran out of memory" in lines[0] and "Traceback" not in result.stderr
    assert not output.exists()
