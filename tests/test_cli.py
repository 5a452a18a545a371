"""The clric encode / decode / info commands, run as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clric_utils.paths import KODAK_ENV

sys.path.insert(0, str(Path(__file__).parent))
from test_bitstream_helpers import EXPONENTS, random_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KODAK = Path(os.environ.get(KODAK_ENV) or "/work/shared/data/kodak")


def clric(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m clric_utils.cli ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "clric_utils.cli", *args], cwd=REPO, capture_output=True,
        text=True, timeout=timeout,
    )


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def clric_file(tmp_path_factory) -> Path:
    """A valid file written through the bitstream API (no training, no VAE)."""
    from clric_utils.bitstream import encode_model

    encoded = encode_model(
        random_model((8, 12), seed=2), EXPONENTS, image_size=(60, 90), vae_name="tiny",
        vae_scaling_factor=1.5, preset="paper", lmbda=2e-3, estimated_bits=1234.5,
    )
    path = tmp_path_factory.mktemp("cli") / "random.clric"
    path.write_bytes(encoded.data)
    return path


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process (fast): exit code, stdout, stderr."""
    from clric_utils.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error_in_process(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_info_json(capsys, clric_file):
    code, out, err = run_main(capsys, "info", str(clric_file), "--json")
    assert code == 0, err
    info = json.loads(out)
    size = clric_file.stat().st_size
    assert info["bytes"] == size
    assert info["bpp"] == 8 * size / (60 * 90)
    assert (info["width"], info["height"]) == (90, 60)
    assert info["vae"] == "tiny" and info["preset"] == "paper"
    assert info["estimated_bits"] == 1234.5
    assert info["lmbda"] == pytest.approx(2e-3, rel=1e-6)
    assert info["payload_bits"] == info["weights_bits"] + info["grids_bits"]
    assert info["payload_bits"] + 8 * (info["header_bytes"] + 4) == 8 * size
    assert info["mac_per_pixel"] > 0
    assert info["arch"]["synthesis"].startswith("48-1-linear-relu")


def test_info_text(capsys, clric_file):
    code, out, err = run_main(capsys, "info", str(clric_file))
    assert code == 0, err
    assert "90×60" in out and "bpp" in out


def test_garbage_file_exit_2_subprocess(tmp_path):
    garbage = tmp_path / "garbage.clric"
    garbage.write_bytes(b"this is not a clric file at all")
    line = _one_line_error(clric("decode", str(garbage), "-o", str(tmp_path / "out.png")))
    assert "not a .clric file" in line


def test_bad_files_exit_2(capsys, tmp_path, clric_file):
    garbage = tmp_path / "garbage.clric"
    garbage.write_bytes(b"CLRC\x01 and then nonsense")
    data = bytearray(clric_file.read_bytes())
    data[len(data) // 2] ^= 0x10
    corrupted = tmp_path / "corrupted.clric"
    corrupted.write_bytes(bytes(data))
    png = str(tmp_path / "x.png")
    cases = [
        (("info", str(garbage)), "truncated"),
        (("decode", str(garbage), "-o", png), "truncated"),
        (("decode", str(corrupted), "-o", png), "CRC"),
        (("info", str(tmp_path / "missing.clric")), "cannot read"),
        (("info", str(tmp_path)), "cannot read"),  # a folder
    ]
    for args, expected in cases:
        line = _one_line_error_in_process(*run_main(capsys, *args)[::2])
        assert expected in line, (args, line)


def test_encode_bad_input_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG but not really")
    out = str(tmp_path / "x.clric")
    line = _one_line_error_in_process(
        *run_main(capsys, "encode", str(bad), "-o", out, "--vae", "tiny")[::2]
    )
    assert "bad.png" in line
    line = _one_line_error_in_process(
        *run_main(capsys, "encode", str(tmp_path / "nope.png"), "-o", out)[::2]
    )
    assert "no such file" in line


def test_bad_device_exit_2(capsys, tmp_path, clric_file):
    image = tmp_path / "img.png"
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(image)
    out = str(tmp_path / "x")
    for args in (("encode", str(image), "-o", out + ".clric", "--device", "warp9"),
                 ("decode", str(clric_file), "-o", out + ".png", "--device", "warp9")):
        line = _one_line_error_in_process(*run_main(capsys, *args)[::2])
        assert "warp9" in line, (args, line)


@pytest.mark.skipif(not (KODAK / "kodim23.png").is_file(), reason="Kodak images not found")
def test_encode_decode_end_to_end(tmp_path):
    """encode → decode in separate processes: same ŷ bit for bit, image written, info right."""
    from clric_utils.images import crop_center, read_image, save_png

    crop = tmp_path / "crop.png"
    save_png(crop_center(read_image(KODAK / "kodim23.png"), 64, 96), crop)
    out = tmp_path / "crop.clric"
    encoder_latent, decoder_latent = tmp_path / "encoder.npy", tmp_path / "decoder.npy"
    result = clric("encode", str(crop), "-o", str(out), "--vae", "tiny", "--lmbda", "1e-3",
                   "--iterations", "60", "--quiet", "--dump-latent", str(encoder_latent))
    assert result.returncode == 0, result.stderr
    assert "bpp" in result.stdout

    png = tmp_path / "decoded.png"
    result = clric("decode", str(out), "-o", str(png), "--dump-latent", str(decoder_latent))
    assert result.returncode == 0, result.stderr
    a, b = np.load(encoder_latent), np.load(decoder_latent)
    assert a.shape == (1, 4, 8, 12) and a.dtype == b.dtype == np.float32
    assert a.tobytes() == b.tobytes()
    assert read_image(png).shape == (64, 96, 3)

    result = clric("info", str(out), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["bpp"] == 8 * out.stat().st_size / (64 * 96)
    assert info["vae"] == "tiny"
    # The coded payload matches the trainer's estimate (range-coder flush: ≤ 2 words each).
    assert abs(info["payload_bits"] - info["estimated_bits"]) <= 0.01 * info["estimated_bits"] + 128


def test_decode_parses_the_header_once(capsys, tmp_path, monkeypatch):
    """`clric decode` runs api.decode_pipeline: header (and CRC) parsed once, ŷ dumped by the
    pipeline's hook, the PNG written."""
    from clric_utils.bitstream import encode_model
    from clric_utils.bitstream import header as header_module
    from clric_utils.vae.tiny import TINY_SCALING_FACTOR

    clric_file = tmp_path / "tiny.clric"
    clric_file.write_bytes(encode_model(
        random_model((8, 12), seed=2), EXPONENTS, image_size=(60, 90), vae_name="tiny",
        vae_scaling_factor=TINY_SCALING_FACTOR, preset="paper", lmbda=2e-3, estimated_bits=1.0,
    ).data)
    parsed = []
    original = header_module._parse_arch

    def counting(*args):
        parsed.append(args)
        return original(*args)

    monkeypatch.setattr(header_module, "_parse_arch", counting)
    png, npy = tmp_path / "x.png", tmp_path / "y.npy"
    code, _, err = run_main(capsys, "decode", str(clric_file), "-o", str(png),
                            "--dump-latent", str(npy))
    assert code == 0, err
    assert len(parsed) == 1
    assert png.stat().st_size > 0 and np.load(npy).shape == (1, 4, 8, 12)
