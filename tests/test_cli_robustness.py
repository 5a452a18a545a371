"""Bad arguments, broken VAE folders, unreachable targets, warnings and Ctrl-C on the command
line (issue 15, findings 4, 5, 6 and 11): exit code 2 (130 for Ctrl-C), one stderr line, no
traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from test_cli import REPO, _one_line_error_in_process, run_main  # noqa: E402

from clric_utils.vae.registry import house_dir  # noqa: E402

QUICK = ("--iterations", "3", "--quiet")


def _vae_folder(tmp_path: Path, name: str, change) -> Path:
    """A copy of the house VAE folder whose config.json is ``change(config)``."""
    folder = tmp_path / name
    folder.mkdir()
    weights = house_dir() / "diffusion_pytorch_model.safetensors"
    (folder / weights.name).symlink_to(weights)
    config = json.loads((house_dir() / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(change(config)))
    return folder


@pytest.mark.parametrize("name, change, expected", [
    ("as_list", lambda c: [c], "JSON object"),
    ("four", lambda c: {**c, "latent_channels": "four"}, "latent_channels"),
    ("scale_zero", lambda c: {**c, "scaling_factor": 0}, "scaling_factor"),
    ("scale_negative", lambda c: {**c, "scaling_factor": -1}, "scaling_factor"),
    ("scale_text", lambda c: {**c, "scaling_factor": "1"}, "scaling_factor"),
    ("blocks", lambda c: {**c, "decoder_block_out_channels": 32}, "decoder_block_out_channels"),
])
def test_broken_vae_config_is_one_line(capsys, tmp_path, random_png, name, change, expected):
    if not (house_dir() / "config.json").is_file():
        pytest.skip("house VAE weights absent")
    folder = _vae_folder(tmp_path, name, change)
    output = tmp_path / "x.clric"
    code, _, err = run_main(capsys, "encode", str(random_png), "-o", str(output), "--vae",
                            str(folder), *QUICK)
    line = _one_line_error_in_process(code, err)
    assert expected in line, line
    assert not output.exists()  # the encoder never writes a file its decoder would refuse


@pytest.mark.parametrize("seed", ["99999999999999999999", "-1"])
def test_seed_out_of_range(capsys, tmp_path, random_png, seed):
    code, _, err = run_main(capsys, "encode", str(random_png), "-o", str(tmp_path / "x.clric"),
                            "--vae", "tiny", "--seed", seed, *QUICK)
    assert "seed" in _one_line_error_in_process(code, err)


def test_lambda_is_checked_before_the_vae(capsys, tmp_path, random_png, monkeypatch):
    """λ fails before any VAE is loaded (the VAE loader would raise if it were reached)."""
    import clric_utils.api as api

    def no_vae(*args, **kwargs):
        raise AssertionError("the VAE was loaded before λ was checked")

    monkeypatch.setattr(api, "_load_vae", no_vae)
    code, _, err = run_main(capsys, "encode", str(random_png), "-o", str(tmp_path / "x.clric"),
                            "--lmbda", "-1", *QUICK)
    assert "λ" in _one_line_error_in_process(code, err)


def test_unreachable_target_is_an_error_naming_the_closest_rate(capsys, tmp_path, random_png):
    output = tmp_path / "x.clric"
    code, _, err = run_main(capsys, "encode", str(random_png), "-o", str(output), "--vae", "tiny",
                            "--target-bpp", "1e-6", *QUICK)
    line = _one_line_error_in_process(code, err)
    assert "1e-06" in line and "bpp" in line and "cannot be reached" in line
    assert not output.exists()


def test_target_above_the_formats_ceiling_is_refused_before_fitting(capsys, tmp_path,
                                                                     random_png, monkeypatch):
    """--target-bpp 100: no file of the preset can hold that many bits; no fit is tried."""
    import clric_utils.codec.rate_control as rate_control

    monkeypatch.setattr(rate_control, "fit_to_target_bpp",
                        lambda *a, **k: pytest.fail("a fit was started"))
    output = tmp_path / "x.clric"
    code, _, err = run_main(capsys, "encode", str(random_png), "-o", str(output), "--vae", "tiny",
                            "--target-bpp", "100", *QUICK)
    line = _one_line_error_in_process(code, err)
    assert "target 100 bpp cannot be reached" in line and "at most" in line
    assert not output.exists()


def test_largest_file_bound_holds_for_wild_files():
    """Correctly coded files of random grids (spans up to 2047) and weights stay under the
    bound that refuses unreachable targets, for every 4-channel preset."""
    from forge_clric import forge_model_file

    from clric_utils.bitstream.header import largest_file_bytes
    from clric_utils.codec.arch import PRESETS, get_preset

    rng = np.random.default_rng(5)
    checked = 0
    for preset in sorted(PRESETS) * 4:
        data = forge_model_file(64, 96, rng, preset, "tiny", 1.5332)
        if data is not None:
            assert len(data) <= largest_file_bytes(64, 96, "tiny", preset, get_preset(preset))
            checked += 1
    assert checked >= 8


def test_missed_target_needs_best_effort(capsys, tmp_path, random_png):
    """A target above the header's rate that no fit lands on: exit 2 naming the closest rate,
    or with --best-effort the closest file and a one-line warning."""
    output = tmp_path / "x.clric"
    args = ("encode", str(random_png), "-o", str(output), "--vae", "tiny", "--target-bpp", "0.6",
            "--iterations", "3", "--quiet")
    line = _one_line_error_in_process(*run_main(capsys, *args)[::2])
    assert "closest" in line and "bpp" in line and "--best-effort" in line
    assert not output.exists()
    code, out, err = run_main(capsys, *args, "--best-effort")
    assert code == 0, err
    assert output.read_bytes()[:4] == b"CLRC"
    assert err.strip().startswith("clric encode: warning: rate control")
    assert len(err.strip().splitlines()) == 1


def test_warnings_are_one_clean_line(capsys, tmp_path):
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 3] = 128  # half transparent: flattened with a warning
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    code, _, err = run_main(capsys, "encode", str(path), "-o", str(tmp_path / "x.clric"),
                            "--vae", "tiny", *QUICK)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clric encode: warning: ") and "transparency" in lines[0]
    assert "UserWarning" not in err and ".py:" not in err


def test_interrupt_caught_inside_exec_still_exits_130(tmp_path):
    """A KeyboardInterrupt that leaves an ``exec`` of a string (as dataclasses does while torch
    imports) and is caught by ``main`` still ends ``python -m`` with 130, not by SIGINT."""
    (tmp_path / "interrupted_in_exec.py").write_text(
        "import clric_utils.cli as cli\n"
        "def interrupted_in_exec():\n"
        "    try:\n"
        "        exec('raise KeyboardInterrupt')\n"
        "    except KeyboardInterrupt:\n"
        "        return 130\n"
        "cli.main = interrupted_in_exec\n"
        "cli.run()\n"
    )
    process = subprocess.run([sys.executable, "-m", "interrupted_in_exec"], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert process.returncode == 130, process.stderr


@pytest.mark.parametrize("delay", [0.3, 1.5, 4.0])
def test_ctrl_c_is_a_clean_exit(tmp_path, random_png, delay):
    """SIGINT while torch is imported, while the VAE loads or while fitting.

    The child starts with SIGINT's default disposition, as from a terminal: a test run
    started in the background by a non-interactive shell inherits SIGINT ignored.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "clric_utils.cli", "encode", str(random_png), "-o",
         str(tmp_path / "x.clric"), "--vae", "tiny", "--iterations", "100000", "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["clric encode: interrupted"] or (
        err.strip() == "clric: interrupted"), err
    assert not (tmp_path / "x.clric").exists()
