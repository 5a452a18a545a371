"""A sweep's results CSV never lies: damaged rows are repaired by `clric eval`, left out by
`clric plot`, and bad `--params` are refused before any work.

Every damaged file is made here from a small valid sweep (JPEG on two generated images, PSNR
only, four rows); a rerun must compute exactly the damaged rows again and give the means of
the clean run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clric_utils.cli import main
from clric_utils.errors import ClricError, ParameterError
from clric_utils.evaluation import sweep as sweep_module
from clric_utils.evaluation.contenders import (
    ClricCodec,
    LatentQuantCodec,
    VaeOnlyCodec,
    make_codec,
)
from clric_utils.evaluation.plots import load_results, rd_means
from clric_utils.evaluation.results_file import (
    RATELESS_CODECS,
    read_results_file,
    repair_results_file,
)
from clric_utils.evaluation.rows import COLUMNS
from clric_utils.evaluation.summary import mean_table
from clric_utils.evaluation.sweep import run_sweep

GRID = [10, 50]
KEY = ["image", "codec", "vae", "parameter"]
TIMINGS = ["encode_s", "decode_s"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small noise images of different sizes (PNG)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in (("a.png", (24, 32, 3)), ("b.png", (20, 28, 3))):
        paths.append(folder / name)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[-1])
    return paths


def _sweep(images: list[Path], out: Path) -> pd.DataFrame:
    """The test's sweep: JPEG at GRID on ``images`` into ``out``, PSNR only, in-process."""
    return run_sweep(images, ["jpeg"], "house", out, parameters=GRID, metrics=["psnr"],
                     workers=1, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def clean(images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of the clean CSV: a header and four rows."""
    out = tmp_path_factory.mktemp("clean") / "eval.csv"
    _sweep(images, out)
    return out.read_bytes()


def _lines(data: bytes) -> list[bytes]:
    """``data`` as lines, each with its line end."""
    return data.splitlines(keepends=True)


def _fields(line: bytes) -> list[str]:
    """The fields of one CSV line (the sweep's rows hold no quotes)."""
    return line.decode().rstrip("\r\n").split(",")


def _key(line: bytes) -> tuple[str, ...]:
    """The (image, codec, vae, parameter) of a clean line."""
    return tuple(_fields(line)[:4])


def _replace_field(line: bytes, name: str, value: str) -> bytes:
    """``line`` with the field ``name`` set to ``value``."""
    fields = _fields(line)
    fields[COLUMNS.index(name)] = value
    return (",".join(fields) + "\r\n").encode()


def _without_timings(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without timings (they change on every run), sorted by key."""
    return frame.drop(columns=TIMINGS).sort_values(KEY).reset_index(drop=True)


@dataclass(frozen=True)
class Damage:
    """A way to damage the clean file: the damaged bytes, which clean lines it spoils, why."""

    name: str
    make: Callable[[list[bytes]], bytes]
    spoiled: tuple[int, ...]  # indexes of the clean lines (header: 0) that are damaged
    reason: str
    removed: Callable[[list[bytes]], list[bytes]]  # the damaged lines, as in the file


def _cut_last(lines: list[bytes], at: int) -> bytes:
    """The file with its last line cut ``at`` bytes into its text."""
    return b"".join(lines[:-1]) + lines[-1][:at]


def _inside(line: bytes, name: str, depth: int = 3) -> int:
    """A byte offset ``depth`` characters into the field ``name`` of ``line``."""
    return len(",".join(_fields(line)[: COLUMNS.index(name)])) + 1 + depth


def _middle(change: Callable[[bytes], bytes]) -> Callable[[list[bytes]], bytes]:
    """The file with its second row (line 3) changed by ``change``."""
    return lambda lines: b"".join([*lines[:2], change(lines[2]), *lines[3:]])


def _cut_inside(name: str) -> Callable[[list[bytes]], bytes]:
    """The file with its last row cut inside the field ``name``."""
    return lambda lines: _cut_last(lines, _inside(lines[-1], name))


GARBAGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\r\n"  # bytes of a JPEG: not UTF-8

DAMAGES = [
    Damage("cut inside key fields", _cut_inside("codec"), (4,), "cut off",
           lambda lines: [lines[-1][: _inside(lines[-1], "codec")]]),
    Damage("cut inside metrics", _cut_inside("psnr"), (4,), "cut off",
           lambda lines: [lines[-1][: _inside(lines[-1], "psnr")]]),
    Damage("row cut to 4 fields", _middle(lambda line: b",".join(line.split(b",")[:4]) + b"\r\n"),
           (2,), "4 fields, expected 18",
           lambda lines: [b",".join(lines[2].split(b",")[:4]) + b"\r\n"]),
    Damage("extra fields", _middle(lambda line: line.replace(b"\r\n", b",1,2\r\n")), (2,),
           "20 fields, expected 18", lambda lines: [lines[2].replace(b"\r\n", b",1,2\r\n")]),
    Damage("binary garbage", _middle(lambda line: GARBAGE), (2,), "not UTF-8 text",
           lambda lines: [GARBAGE]),
    Damage("parameter abc", _middle(lambda line: _replace_field(line, "parameter", "abc")),
           (2,), "parameter 'abc' is not a number",
           lambda lines: [_replace_field(lines[2], "parameter", "abc")]),
    Damage("metric notanumber", _middle(lambda line: _replace_field(line, "psnr", "notanumber")),
           (2,), "psnr 'notanumber' is not a number",
           lambda lines: [_replace_field(lines[2], "psnr", "notanumber")]),
    Damage("inf metric", _middle(lambda line: _replace_field(line, "ms_ssim", "inf")), (2,),
           "ms_ssim is inf", lambda lines: [_replace_field(lines[2], "ms_ssim", "inf")]),
    Damage("no newline at the end", lambda lines: b"".join(lines)[:-2], (4,), "cut off",
           lambda lines: [lines[-1][:-2]]),
    Damage("empty key field", _middle(lambda line: _replace_field(line, "codec", "")), (2,),
           "empty codec", lambda lines: [_replace_field(lines[2], "codec", "")]),
]


def _damaged_file(clean: bytes, damage: Damage, out: Path) -> list[bytes]:
    """Write the damaged file to ``out``; return the clean lines."""
    lines = _lines(clean)
    out.write_bytes(damage.make(lines))
    return lines


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_a_rerun_repairs_the_file_and_computes_exactly_the_damaged_rows(
    damage: Damage, clean: bytes, images: list[Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "eval.csv"
    lines = _damaged_file(clean, damage, out)
    kept = [line for index, line in enumerate(lines[1:], start=1) if index not in damage.spoiled]
    capsys.readouterr()

    frame = _sweep(images, out)

    # One line on stderr: how many rows, why, where the .bak is.
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1
    assert f"{out}: removed 1 damaged row (line {damage.spoiled[0] + 1}: " in message[0]
    assert damage.reason in message[0] and f"{out}.bak" in message[0]
    # The .bak holds exactly the removed lines (a cut line gets its newline there).
    removed = [line if line.endswith(b"\n") else line + b"\n" for line in damage.removed(lines)]
    assert (tmp_path / "eval.csv.bak").read_bytes() == b"".join(removed)
    # The valid rows are untouched, in their order; the damaged ones computed again, after.
    final = _lines(out.read_bytes())
    assert final[: 1 + len(kept)] == [lines[0], *kept]
    assert sorted(_key(line) for line in final[1 + len(kept):]) == sorted(
        _key(lines[index]) for index in damage.spoiled
    )
    results = read_results_file(out)
    assert results.damaged == () and len(results.rows) == 4
    # The rows, and so the means, are those of the clean run.
    clean_rows = _rows_of(clean, tmp_path)
    pd.testing.assert_frame_equal(_without_timings(frame), _without_timings(clean_rows))
    means, clean_means = mean_table(frame, ["psnr"]), mean_table(clean_rows, ["psnr"])
    assert list(means["images"]) == [2, 2]
    assert list(means["bpp"]) == list(clean_means["bpp"])
    assert list(means["psnr"]) == list(clean_means["psnr"])

    # Repaired: a second rerun changes nothing and says nothing.
    before = out.read_bytes()
    _sweep(images, out)
    assert out.read_bytes() == before and capsys.readouterr().err == ""


def _rows_of(data: bytes, folder: Path) -> pd.DataFrame:
    """The rows of a CSV given as bytes (written to ``folder/copy.csv``)."""
    path = folder / "copy.csv"
    path.write_bytes(data)
    return read_results_file(path).rows


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_plot_never_counts_a_damaged_row_and_leaves_the_file_alone(
    damage: Damage, clean: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "eval.csv"
    lines = _damaged_file(clean, damage, out)
    damaged_bytes = out.read_bytes()
    with pytest.warns(UserWarning, match=r"left out 1 damaged row \(line "
                      f"{damage.spoiled[0] + 1}: ") as caught:
        frame = load_results(out)
    assert len(caught) == 1 and damage.reason in str(caught[0].message)
    expected = [line for index, line in enumerate(lines[1:], start=1)
                if index not in damage.spoiled]
    assert sorted(zip(frame["image"], frame["parameter"], strict=True)) == sorted(
        (_key(line)[0], float(_key(line)[3])) for line in expected
    )
    means = rd_means(frame, ["psnr"]).set_index("parameter")
    spoiled_parameter = float(_key(lines[damage.spoiled[0]])[3])
    assert means.loc[spoiled_parameter, "images"] == 1  # the damaged row is not in its mean
    assert out.read_bytes() == damaged_bytes and not (tmp_path / "eval.csv.bak").exists()


def test_clric_plot_warns_once_per_damaged_file(clean: bytes, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval.csv"
    _damaged_file(clean, DAMAGES[1], out)  # the last row cut inside its metrics
    capsys.readouterr()
    assert main(["plot", "--results", str(out), "--out", str(tmp_path / "figures"),
                 "--metrics", "psnr", "--anchor", "jpeg"]) == 0  # fmt: skip
    printed = capsys.readouterr()
    warnings = [line for line in printed.err.splitlines() if "damaged" in line]
    assert warnings == [
        f"clric plot: warning: {out}: left out 1 damaged row (line 5: cut off (the file does "
        f"not end with a newline)); `clric eval --out {out}` repairs the file and computes "
        "them again"
    ]
    assert "measured on 1 of the images only" in printed.out  # its point has one image left


def test_a_file_with_no_valid_row_is_refused_by_plot(clean: bytes, tmp_path: Path) -> None:
    out = tmp_path / "eval.csv"
    lines = _lines(clean)
    out.write_bytes(lines[0] + b"".join(_replace_field(line, "bpp", "x") for line in lines[1:]))
    with pytest.raises(ClricError, match=r"no valid row, 4 damaged rows \(lines 2, 3, 4, 5;"):
        load_results(out)


@pytest.mark.parametrize("kind", ["png", "zeros", "all bytes"])
def test_a_binary_file_is_refused_in_one_line(
    kind: str, images: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "eval.csv"
    data = {"png": images[0].read_bytes(), "zeros": bytes(4096),
            "all bytes": bytes(range(256)) * 4}[kind]  # fmt: skip
    out.write_bytes(data)
    for action in (lambda: _sweep(images, out), lambda: load_results(out)):
        with pytest.raises(ClricError) as error:
            action()
        message = str(error.value)
        assert len(message.splitlines()) == 1
        assert message.startswith(f"{out} is not a text file") and "write to a new file" in message
    assert out.read_bytes() == data and not (tmp_path / "eval.csv.bak").exists()


def test_other_headers_keep_their_errors(tmp_path: Path) -> None:
    out = tmp_path / "other.csv"
    out.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(ClricError, match=r"has columns \['a', 'b'\], expected \['image'"):
        repair_results_file(out)
    assert out.read_bytes() == b"a,b\n1,2\n"


def test_removed_lines_are_appended_to_an_existing_bak(
    clean: bytes, images: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "eval.csv"
    backup = tmp_path / "eval.csv.bak"
    backup.write_bytes(b"kept from before")  # no newline: the next lines start on their own
    lines = _damaged_file(clean, DAMAGES[9], out)  # line 3: empty codec
    _sweep(images, out)
    first = _replace_field(lines[2], "codec", "")
    assert backup.read_bytes() == b"kept from before\n" + first
    out.write_bytes(out.read_bytes()[:-5])  # the last row cut
    removed = _lines(out.read_bytes())[-1]
    _sweep(images, out)
    assert backup.read_bytes() == b"kept from before\n" + first + removed + b"\n"
    assert len(read_results_file(out).rows) == 4


def test_a_header_cut_before_its_newline_gets_one(images: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "eval.csv"
    out.write_bytes(",".join(COLUMNS).encode())
    frame = _sweep(images, out)
    assert len(frame) == 4 and read_results_file(out).damaged == ()
    assert _lines(out.read_bytes())[0] == ",".join(COLUMNS).encode() + b"\n"


class CopyCodec:
    """Stores the pixels as they are: identical images (PSNR inf) and no rate measured."""

    name = "copy"
    parameters = (0,)
    uses_vae = False
    measures_rate = False

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """The shape and the pixels."""
        return np.asarray(image.shape, "<u4").tobytes() + image.tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        """The pixels back."""
        shape = tuple(np.frombuffer(data[:12], "<u4"))
        return np.frombuffer(data[12:], np.uint8).reshape(shape).copy()


def test_what_the_sweep_writes_is_valid(images: list[Path], tmp_path: Path, capsys) -> None:
    """NaN bytes of a codec without a rate, PSNR inf, metrics not requested: kept, not redone."""
    out = tmp_path / "copy.csv"
    frame = run_sweep(images, [CopyCodec()], "house", out, metrics=["psnr"], progress=False)
    assert frame["bytes"].isna().all() and (frame["psnr"] == math.inf).all()
    before = out.read_bytes()
    capsys.readouterr()
    assert len(run_sweep(images, [CopyCodec()], "house", out, metrics=["psnr"],
                         progress=False)) == 2  # fmt: skip
    assert out.read_bytes() == before and capsys.readouterr().err == ""
    # A codec measuring its rate may not have NaN bytes; -inf PSNR is never written.
    lines = _lines(before)
    out.write_bytes(lines[0] + _replace_field(lines[1], "codec", "jpeg")
                    + _replace_field(lines[2], "psnr", "-inf"))  # fmt: skip
    reasons = [row.reason for row in read_results_file(out, frozenset({"copy"})).damaged]
    assert reasons == ["bytes is nan", "psnr is -inf"]


def test_empty_fields_are_nan_only_where_nan_is_allowed(clean: bytes, tmp_path: Path) -> None:
    """pandas writes NaN as an empty field (committed tables rebuilt with it have them)."""
    lines = _lines(clean)
    rateless = _replace_field(_replace_field(lines[1], "codec", "vae-only"), "bytes", "")
    rateless = _replace_field(rateless, "bpp", "")
    no_metric = _replace_field(lines[2], "psnr", "")
    no_bytes = _replace_field(lines[3], "bytes", "")
    no_time = _replace_field(lines[4], "encode_s", "")
    out = tmp_path / "eval.csv"
    out.write_bytes(b"".join([lines[0], rateless, no_metric, no_bytes, no_time]))
    results = read_results_file(out)
    assert [(row.line, row.reason) for row in results.damaged] == [
        (4, "empty bytes"), (5, "empty encode_s")
    ]
    assert results.rows["bpp"].isna().tolist() == [True, False]
    assert results.rows["psnr"].isna().tolist() == [False, True]
    assert results.rows.dtypes["parameter"] == np.float64
    assert results.rows.dtypes["seed"] == np.dtype(object)


def test_rateless_codecs_are_those_that_measure_no_rate() -> None:
    assert VaeOnlyCodec.measures_rate is False and RATELESS_CODECS == {VaeOnlyCodec.name}
    assert LatentQuantCodec.measures_rate and ClricCodec.measures_rate
    assert all(make_codec(name).measures_rate for name in ("jpeg", "webp"))


@pytest.mark.parametrize("params", [["abc"], ["nan"], ["inf"], ["jpeg=-inf"], [""], ["jpeg="],
                                    ["jpeg=5,,10"], ["10", "jpeg=5,nan"]])
def test_clric_eval_refuses_bad_params_before_any_work(
    params: list[str], images: list[Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("the sweep started")

    monkeypatch.setattr(sweep_module, "run_sweep", no_work)
    out = tmp_path / "eval.csv"
    code = main(["eval", "--images", str(images[0]), "--codec", "jpeg", "--params", *params,
                 "--out", str(out), "--quiet"])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(error.splitlines()) == 1 and error.startswith("clric eval: error: --params: ")


def test_bad_metric_names_and_parameters_are_refused_before_any_work(
    images: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:  # argparse: --metrics has choices
        main(["eval", "--images", str(images[0]), "--metrics", "psnrr"])
    assert exit_info.value.code == 2
    out = tmp_path / "eval.csv"
    with pytest.raises(ParameterError, match=r"unknown metrics \['psnrr'\]"):
        run_sweep(images, ["jpeg"], "house", out, metrics=["psnrr"], progress=False)
    with pytest.raises(ParameterError, match="parameter nan is not a finite number"):
        run_sweep(images, ["jpeg"], "house", out, parameters={"jpeg": [10, math.nan]},
                  progress=False)  # fmt: skip
    assert not out.exists()
