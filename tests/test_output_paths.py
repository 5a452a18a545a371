"""Output paths (issue 15, findings 8 and 11): no lost input, no silent overwrite, the right
extension, and every path problem found before the fit starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import _one_line_error, _one_line_error_in_process, clric, run_main  # noqa: E402


def _encode(capsys, *args: str) -> tuple[int, str, str]:
    return run_main(capsys, "encode", *args, "--vae", "tiny", "--iterations", "3", "--quiet")


def test_output_equal_to_input_is_refused_even_with_force(capsys, random_png):
    before = random_png.read_bytes()
    for output in (str(random_png), str(random_png.parent / "." / random_png.name)):
        for extra in ((), ("--force",)):
            line = _one_line_error_in_process(*_encode(capsys, str(random_png), "-o", output,
                                                       *extra)[::2])
            assert "a.png" in line
    assert random_png.read_bytes() == before


def test_clric_output_equal_to_input_is_refused(capsys, random_png, tmp_path):
    target = tmp_path / "x.clric"
    assert _encode(capsys, str(random_png), "-o", str(target))[0] == 0
    line = _one_line_error_in_process(
        *run_main(capsys, "decode", str(target), "-o", str(target), "--force")[::2])
    assert "x.clric" in line
    assert target.stat().st_size > 0


def test_existing_output_needs_force(capsys, random_png, tmp_path):
    target = tmp_path / "x.clric"
    target.write_bytes(b"precious")
    line = _one_line_error_in_process(*_encode(capsys, str(random_png), "-o", str(target))[::2])
    assert "already exists" in line and "--force" in line
    assert target.read_bytes() == b"precious"
    code, _, err = _encode(capsys, str(random_png), "-o", str(target), "--force")
    assert code == 0, err
    assert target.read_bytes()[:4] == b"CLRC"


@pytest.mark.parametrize("command, name", [("encode", "x.jpg"), ("encode", "x.png"),
                                           ("decode", "y.jpg"), ("decode", "y.clric")])
def test_output_extension_is_checked(capsys, random_png, tmp_path, command, name):
    source = random_png
    if command == "decode":
        source = tmp_path / "in.clric"
        assert _encode(capsys, str(random_png), "-o", str(source))[0] == 0
    line = _one_line_error_in_process(
        *run_main(capsys, command, str(source), "-o", str(tmp_path / name),
                  *(("--vae", "tiny") if command == "encode" else ()))[::2])
    assert name in line and (".clric" in line or ".png" in line)
    assert not (tmp_path / name).exists()


def test_unwritable_output_fails_before_the_fit(capsys, random_png, tmp_path, monkeypatch):
    """The path is checked first: the fit (minutes at full effort) is never started."""
    import clric_utils.api as api

    def no_fit(*args, **kwargs):
        raise AssertionError("compress ran before the output path was checked")

    monkeypatch.setattr(api, "compress", no_fit)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    for output in ("/proc/x.clric", str(blocker / "x.clric"), str(tmp_path)):
        code, _, err = run_main(capsys, "encode", str(random_png), "-o", output, "--vae", "tiny")
        _one_line_error_in_process(code, err)


def test_help_documents_the_overwrite_rule():
    result = clric("encode", "--help")
    assert "--force" in result.stdout and "never replaced" in result.stdout
    result = clric("decode", "--help")
    assert "--force" in result.stdout and "never replaced" in result.stdout
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "--force" in readme


def test_output_in_a_new_folder_is_created(capsys, random_png, tmp_path):
    target = tmp_path / "new" / "deeper" / "x.clric"
    assert _encode(capsys, str(random_png), "-o", str(target))[0] == 0
    assert target.read_bytes()[:4] == b"CLRC"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.clric"]


def test_subprocess_error_is_one_line(random_png, tmp_path):
    line = _one_line_error(clric("encode", str(random_png), "-o", str(random_png), "--vae", "tiny"))
    assert "input" in line
