"""Published anchors, figure titles and the RD figure (log rate axis, dashed anchors)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from clric_utils.commands import plot as plot_command
from clric_utils.data import CLIC2020_NAMES, KODAK_NAMES
from clric_utils.errors import ClricError
from clric_utils.evaluation import anchors
from clric_utils.evaluation.plots import plot_rd
from clric_utils.evaluation.result_sets import dataset_of, results_title
from clric_utils.evaluation.summary import bd_rate_table, format_bd_table
from clric_utils.evaluation.sweep import COLUMNS

PUBLISHED = Path(anchors.__file__).parent / "published"


def test_every_published_file_is_cited_and_pinned() -> None:
    sources = anchors.published_sources()
    assert {s["name"] for s in sources} == {"MS-ILLM", "Cool-chic 4.2", "C3", "StableCodec"}
    for source in sources:
        assert source["link"].startswith("https://github.com/") and len(source["notes"]) >= 1
        commit = source["link"].split("/")[6]  # …/owner/repo/blob|tree/<commit>/…
        assert re.fullmatch(r"[0-9a-f]{40}", commit), source["name"]  # a full commit hash
        assert any(year in source["citation"] for year in ("2023", "2024", "2025"))
    illm = next(s for s in sources if s["name"] == "MS-ILLM")
    assert any("alex" in note for note in illm["notes"])  # the backbone finding is recorded


def test_published_curves_by_data_set_and_metric() -> None:
    kodak_lpips = {c.name for c in anchors.published_curves("kodak", "lpips_alex")}
    assert kodak_lpips == {"MS-ILLM", "StableCodec"}  # Cool-chic and C3 publish PSNR only
    kodak_psnr = {c.name for c in anchors.published_curves("kodak", "psnr")}
    assert kodak_psnr == {"MS-ILLM", "StableCodec", "Cool-chic 4.2", "C3"}
    assert anchors.published_curves("kodak", "lpips_vgg") == []  # nobody publishes it
    clic = {c.label for c in anchors.published_curves("clic2020", "lpips_alex")}
    assert clic == {"MS-ILLM (published; CLIC 2020 split not stated)"}
    illm = anchors.published_curves("kodak", "psnr")
    illm = next(c for c in illm if c.name == "MS-ILLM")
    assert illm.bpp[0] == pytest.approx(0.044345) and illm.metrics["lpips_alex"][0] == 0.15762
    assert all(a < b for a, b in zip(illm.bpp, illm.bpp[1:], strict=False))


def test_inconsistent_published_curve_is_refused() -> None:
    source = json.loads((PUBLISHED / "c3.json").read_text())
    entry = dict(source["curves"][0], psnr=[27.0])  # one PSNR for 14 rates
    with pytest.raises(ClricError, match="same length"):
        anchors._curve(source, entry, "c3.json")


def _table(names: tuple[str, ...], codecs=("jpeg", "clric")) -> pd.DataFrame:
    """A sweep-shaped table: per image, codec and parameter, made-up but plausible values."""
    rows = []
    for name in names:
        for codec in codecs:
            for step in range(1, 5):
                rows.append({
                    "image": name, "codec": codec, "vae": "house" if codec == "clric" else "none",
                    "parameter": step, "preset": "default" if codec == "clric" else "none",
                    "effort": "none", "seed": "none", "vae_weights": "none", "version": "0",
                    "bytes": 100.0 * step, "bpp": (0.01 if codec == "clric" else 0.1) * step,
                    "psnr": 20 + 2 * step, "ms_ssim": 0.8 + 0.04 * step,
                    "lpips_alex": 0.6 - 0.1 * step, "lpips_vgg": 0.7 - 0.1 * step,
                    "dists": 0.4 - 0.05 * step, "encode_s": 0.0, "decode_s": 0.0,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_data_set_and_title_of_a_table() -> None:
    assert dataset_of(_table(KODAK_NAMES)) == "kodak"
    assert dataset_of(_table(CLIC2020_NAMES)) == "clic2020"
    assert dataset_of(_table(KODAK_NAMES[:4])) is None  # a subset gets no published curves
    title = results_title(_table(KODAK_NAMES))
    assert title == "Kodak (24 images), house VAE, CLRIC preset default"
    assert results_title(_table(KODAK_NAMES[:4])).startswith("Kodak subset (4 images)")
    assert results_title(_table(("a.png",), ("jpeg",)), "photos") == "photos (1 image)"


def test_rd_figure_draws_anchors_dashed_on_a_log_rate_axis(tmp_path: Path) -> None:
    frame = _table(KODAK_NAMES)
    before = frame.copy()
    out = tmp_path / "rd.png"
    figure = plot_rd(frame, ["psnr", "lpips_alex", "lpips_vgg"], out, title="T", anchors="kodak")
    assert out.stat().st_size > 20_000
    psnr_axis, lpips_axis, vgg_axis = figure.axes[:3]
    assert psnr_axis.get_xscale() == "log" and "bits per pixel" in psnr_axis.get_xlabel()
    assert "dB" in psnr_axis.get_ylabel()
    dashed = {line.get_label() for line in lpips_axis.lines if line.get_linestyle() == "--"}
    assert dashed == {"MS-ILLM (published)", "StableCodec (published)"}
    solid = {line.get_label() for line in lpips_axis.lines if line.get_linestyle() == "-"}
    assert solid == {"jpeg", "clric default (house)"}
    assert not [line for line in vgg_axis.lines if "published" in line.get_label()]
    assert "Muckley et al., ICML 2023" in figure.get_supxlabel()
    pd.testing.assert_frame_equal(frame, before)  # anchors never enter our rows

    plain = plot_rd(frame, ["psnr"], None)
    assert not [line for line in plain.axes[0].lines if "published" in line.get_label()]


def test_curve_on_fewer_images_says_so(tmp_path: Path) -> None:
    frame = _table(KODAK_NAMES)
    frame = frame[(frame["codec"] == "jpeg") | frame["image"].isin(KODAK_NAMES[:4])]
    figure = plot_rd(frame, ["psnr"], None)
    labels = {line.get_label() for line in figure.axes[0].lines}
    assert labels == {"jpeg", "clric default (house) [4 of 24 images]"}


def test_two_efforts_of_one_preset_are_two_curves() -> None:
    """CLRIC rows at two efforts are drawn and BD-rated as two curves, never averaged into one
    (nor does the newer effort replace the older one's points)."""
    fast = _table(KODAK_NAMES)
    fast["effort"] = fast["effort"].where(fast["codec"] != "clric", "fast")
    medium = fast[fast["codec"] == "clric"].assign(effort="medium")
    medium["bpp"] *= 0.8  # the same quality with 80 % of fast's bits
    frame = pd.concat([fast, medium], ignore_index=True)
    labels = {line.get_label() for line in plot_rd(frame, ["psnr"], None).axes[0].lines}
    assert labels == {"jpeg", "clric default (house, fast effort)",
                      "clric default (house, medium effort)"}
    table = bd_rate_table(frame, "jpeg", ["psnr"]).set_index("effort")
    # JPEG needs 10× fast's bits at every PSNR, and 12.5× medium's.
    assert table.loc["fast", "psnr"] == pytest.approx(-90.0)
    assert table.loc["medium", "psnr"] == pytest.approx(-92.0)
    assert list(format_bd_table(table.reset_index(), ["psnr"])["effort"]) == list(table.index)


def _run_plot(results: Path, out: Path, capsys) -> str:
    """``clric plot --results RESULTS --out OUT --metrics psnr lpips_alex``; what it printed."""
    parser = argparse.ArgumentParser()
    plot_command.add_arguments(parser)
    args = parser.parse_args(["--results", str(results), "--out", str(out),
                              "--metrics", "psnr", "lpips_alex"])  # fmt: skip
    assert plot_command.run(args) == 0
    return capsys.readouterr().out


def test_plot_command_titles_and_names_the_missing_data_set(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _table(KODAK_NAMES).to_csv(results / "kodak_house.csv", index=False)
    printed = _run_plot(results, tmp_path / "figures", capsys)
    assert (tmp_path / "figures" / "kodak_house_rd.png").is_file()
    assert "missing: no results CSV holds all of clic2020" in printed
    assert "CLRIC_CLIC_DIR" in printed and "all of kodak" not in printed


def test_two_vaes_on_the_whole_data_set_are_drawn_and_compared_together(tmp_path: Path,
                                                                         capsys) -> None:
    """kodak_house.csv (JPEG and CLRIC on house) and kodak_taef2.csv (CLRIC on taef2): one
    combined figure, BD-rates against JPEG there, and against the house CLRIC curve."""
    results = tmp_path / "results"
    results.mkdir()
    _table(KODAK_NAMES).to_csv(results / "kodak_house.csv", index=False)
    taef2 = _table(KODAK_NAMES, codecs=("clric",)).assign(vae="taef2", preset="slim")
    taef2["bpp"] = taef2["bpp"] / 2  # the same qualities at half the rate: BD-rate −50 %
    taef2.to_csv(results / "kodak_taef2.csv", index=False)
    printed = _run_plot(results, tmp_path / "figures", capsys)
    assert (tmp_path / "figures" / "kodak_vaes_rd.png").is_file()
    assert "kodak_vaes_rd: BD-rate against clric:house:default:none" in printed
    section = printed.split("kodak_vaes_rd: BD-rate against clric:house:default:none")[1]
    taef2_row = next(line for line in section.splitlines() if "taef2" in line)
    assert "-50.0 % over" in taef2_row


def test_an_anchor_names_one_curve_by_its_fields() -> None:
    from clric_utils.evaluation.summary import anchor_curves, anchor_matches

    frame = pd.concat([_table(KODAK_NAMES[:2]),
                       _table(KODAK_NAMES[:2], codecs=("clric",)).assign(vae="taef2")])
    assert anchor_curves(frame, "clric") == ["clric:house:default:none",
                                             "clric:taef2:default:none"]
    assert anchor_matches(("avif", "none", "none", "none"), "avif")
    assert not anchor_matches(("avif-slow", "none", "none", "none"), "avif")
    with pytest.raises(ClricError, match="exactly one 'clric'"):
        bd_rate_table(frame, "clric", ["psnr"])
    table = bd_rate_table(frame, "clric:taef2", ["psnr"]).set_index("vae")
    assert table.loc["taef2", "psnr"] == pytest.approx(0.0)


def test_a_codec_keeps_its_colour_whichever_curves_a_figure_holds():
    from clric_utils.evaluation.plots import CODEC_COLOURS, curve_styles

    alone = curve_styles([("clric", "house", "wide", "fast")])
    mixed = curve_styles([("jpeg", "none", "none", "none"), ("clric", "house", "wide", "fast"),
                          ("clric", "house", "paper", "medium"), ("mystery", "x", "y", "z")])
    assert alone[("clric", "house", "wide", "fast")] == (CODEC_COLOURS["clric"], "-", "o")
    assert mixed[("clric", "house", "wide", "fast")] == (CODEC_COLOURS["clric"], "-", "o")
    assert mixed[("clric", "house", "paper", "medium")] == (CODEC_COLOURS["clric"], "--", "s")
    assert mixed[("jpeg", "none", "none", "none")][0] == CODEC_COLOURS["jpeg"]
    assert mixed[("mystery", "x", "y", "z")][0] not in CODEC_COLOURS.values()


def test_every_curve_of_one_codec_looks_different():
    """kodak_vaes_rd.png holds five CLRIC curves (three VAEs): line style and marker cycle
    together, so none of the first twelve repeats another's."""
    from clric_utils.evaluation.plots import curve_styles

    keys = [("clric", f"vae{i}", "wide", "medium") for i in range(12)]
    styles = curve_styles(keys)
    assert len(set(styles.values())) == 12


def test_grid_figure_wraps_to_rows_readable_at_page_width() -> None:
    """`plot_grids` of `wide` (4 + 6 grids) wraps at GRID_COLUMNS panels a row: at most
    ≈ 11 inches wide instead of one 26-inch row, one titled panel per grid."""
    from clric_utils.codec.arch import get_preset
    from clric_utils.codec.model import OverfittedLatentModel
    from clric_utils.tutorial.figures import GRID_COLUMNS, plot_grids

    model = OverfittedLatentModel(64, 96, get_preset("wide"))
    n_grids = sum(g.shape[1] for g in model.grids.params)
    figure = plot_grids(model, "grids")
    width, height = figure.get_size_inches()
    titled = [axis for axis in figure.axes if axis.get_title()]
    assert len(titled) == n_grids == 10
    assert width <= 2.6 * GRID_COLUMNS + 0.8 and height > 2 * 2.4
