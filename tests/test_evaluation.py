"""Evaluation harness: codecs, resumable sweep CSV, plots and the eval/plot commands."""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from kodak_crops import write_kodak_crops
from matplotlib.figure import Figure
from PIL import Image, features

from clric_utils.commands import evaluate as eval_command
from clric_utils.commands import plot as plot_command
from clric_utils.errors import ClricError, ParameterError
from clric_utils.evaluation.contenders import LatentQuantCodec, VaeOnlyCodec, make_codec
from clric_utils.evaluation.plots import plot_rd
from clric_utils.evaluation.rows import PROVENANCE
from clric_utils.evaluation.summary import bd_rate_table, mean_table
from clric_utils.evaluation.sweep import COLUMNS, run_sweep
from clric_utils.paths import KODAK_ENV, TORCHVISION_WEIGHTS_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = Path(os.environ.get(TORCHVISION_WEIGHTS_ENV) or SHARED / "weights" / "torchvision")
KODAK = Path(os.environ.get(KODAK_ENV) or SHARED / "data" / "kodak")

pytestmark = pytest.mark.skipif(
    not (WEIGHTS / "vgg16_features.pth").is_file() or not (KODAK / "kodim01.png").is_file(),
    reason="needs Kodak and the torchvision backbone weights (CLRIC_KODAK_DIR, "
    "CLRIC_TORCHVISION_WEIGHTS)",
)

GRID = {"jpeg": [10, 50], "webp": [10, 50]}


class StandInVae:
    """Seeded linear 'VAE' with the project's interface: 8× average pool and a 1×1 mix."""

    name = "standin"
    scaling_factor = 1.0

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.mix = torch.randn(4, 3, generator=generator)
        self.unmix = torch.linalg.pinv(self.mix)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = -x.shape[-2] % 8, -x.shape[-1] % 8
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return torch.einsum("oc,nchw->nohw", self.mix, F.avg_pool2d(x, 8)) * 2.0

    def decode(self, latent: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = torch.einsum("co,nohw->nchw", self.unmix, latent / 2.0)
        return F.interpolate(x, scale_factor=8, mode="nearest")[..., :height, :width]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # On a shared 2-core machine, two intra-op threads contending with other jobs run the
    # small metric networks several times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def _offline_weights() -> Iterator[None]:
    # module scope: the module-scoped sweep fixture below computes LPIPS and DISTS
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TORCHVISION_WEIGHTS_ENV, str(WEIGHTS))
        yield


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small Kodak crops (one with sides not a multiple of 8) as PNG files."""
    boxes = [(1, (200, 300, 96, 128)), (7, (100, 150, 90, 117))]
    return write_kodak_crops(KODAK, tmp_path_factory.mktemp("crops"), boxes)


@pytest.fixture(scope="module")
def swept(crops: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV of a jpeg + webp sweep over the crops with every metric."""
    out = tmp_path_factory.mktemp("results") / "baselines.csv"
    run_sweep(crops, ["jpeg", "webp"], "house", out, parameters=GRID, progress=False)
    return out


def _pixels(path: Path) -> int:
    with Image.open(path) as image:
        return image.size[0] * image.size[1]


def test_sweep_csv_columns_and_rates(swept: Path, crops: list[Path]) -> None:
    with swept.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    frame = pd.read_csv(swept)
    assert len(frame) == 8
    assert set(frame["vae"]) == {"none"}  # no VAE used, and none loaded
    pixels = {p.name: _pixels(p) for p in crops}
    expected = 8 * frame["bytes"] / frame["image"].map(pixels)
    assert np.allclose(frame["bpp"], expected, rtol=0, atol=1e-12)
    assert frame[["psnr", "lpips_alex", "lpips_vgg", "dists"]].notna().all().all()
    assert frame["ms_ssim"].isna().all()  # crops are below MS-SSIM's 161 px
    high = frame[frame["parameter"] == 50].set_index(["image", "codec"])
    low = frame[frame["parameter"] == 10].set_index(["image", "codec"])
    assert (high["bpp"] > low["bpp"]).all() and (high["psnr"] > low["psnr"]).all()


def test_sweep_resumes(swept: Path, crops: list[Path], tmp_path: Path) -> None:
    before = swept.read_bytes()
    run_sweep(crops, ["jpeg", "webp"], "house", swept, parameters=GRID, progress=False)
    assert swept.read_bytes() == before  # nothing new to do: not a byte added

    partial = tmp_path / "partial.csv"
    lines = before.decode().splitlines(keepends=True)
    partial.write_text("".join(lines[:-3]))  # as if killed after 5 rows
    frame = run_sweep(
        crops, ["jpeg", "webp"], "house", partial, parameters=GRID, metrics=["psnr"],
        progress=False,
    )  # fmt: skip
    assert len(frame) == 8
    assert not frame.duplicated(["image", "codec", "vae", "parameter"]).any()


def test_sweep_rejects_foreign_csv(crops: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "other.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(ClricError, match="columns"):
        run_sweep(crops, ["jpeg"], "house", out, progress=False)


def test_sweep_with_worker_processes(crops: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "pool.csv"
    frame = run_sweep(
        crops, ["jpeg"], "house", out, parameters=[30], workers=2, metrics=["psnr"],
        progress=False,
    )  # fmt: skip
    assert sorted(frame["image"]) == sorted(p.name for p in crops)
    assert frame["lpips_alex"].isna().all()


def test_latent_quant_round_trip(crops: list[Path]) -> None:
    vae = StandInVae()
    image = np.array(Image.open(crops[1]))  # 90×117: padded to 96×120 inside the VAE
    codec = LatentQuantCodec(vae)
    sizes = []
    for step in (0.05, 0.2, 0.8):
        data = codec.encode(image, step)
        decoded = codec.decode(data)
        # The file must decode to exactly the dequantized latent through the VAE decoder.
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
        stored = float(np.float32(step))  # the step as the header stores it
        quantized = torch.round(vae.encode(tensor).double() / stored) * stored
        expected = vae.decode(quantized.float(), *image.shape[:2])
        expected = ((expected + 1) * 127.5).round().clamp(0, 255).byte()[0].permute(1, 2, 0)
        assert decoded.shape == image.shape
        assert np.abs(decoded.astype(int) - expected.numpy().astype(int)).max() <= 1
        sizes.append(len(data))
    assert sizes[0] > sizes[1] > sizes[2]


def test_latent_quant_constant_image_and_errors() -> None:
    codec = LatentQuantCodec(StandInVae())
    flat = np.full((16, 24, 3), 90, np.uint8)
    data = codec.encode(flat, 0.01)
    assert len(data) == 18 + 4 * 12  # constant channels: header only, no coded symbols
    decoded = codec.decode(data)
    assert (decoded == decoded[0, 0]).all() and np.abs(decoded.astype(int) - 90).max() <= 2
    with pytest.raises(ParameterError):
        codec.encode(flat, 0.0)
    with pytest.raises(ClricError):
        codec.decode(data[:5])


def test_vae_codecs_in_a_sweep(crops: list[Path], tmp_path: Path) -> None:
    vae = StandInVae()
    out = tmp_path / "vae.csv"
    frame = run_sweep(
        crops, ["latent-quant", "vae-only"], vae, out, parameters={"latent-quant": [0.1, 0.4]},
        metrics=["psnr"], progress=False,
    )  # fmt: skip
    assert set(frame["vae"]) == {"standin"}
    ceiling = frame[frame["codec"] == "vae-only"]
    assert len(ceiling) == 2 and ceiling["bpp"].isna().all() and ceiling["bytes"].isna().all()
    rated = frame[frame["codec"] == "latent-quant"]
    assert (rated["bpp"] > 0).all()
    # quantizing can only lose quality relative to the unquantized VAE round trip (± noise)
    merged = rated.merge(ceiling, on="image", suffixes=("", "_vae"))
    assert (merged["psnr"] <= merged["psnr_vae"] + 0.05).all()


def test_pillow_codecs_and_registry() -> None:
    image = np.array(Image.open(KODAK / "kodim03.png"))[:64, :80]
    names = ["jpeg", "webp"] + (["avif"] if features.check("avif") else [])
    for name in names:
        codec = make_codec(name)
        assert codec.decode(codec.encode(image, codec.parameters[1])).shape == image.shape
    with pytest.raises(ParameterError):
        make_codec("jpeg").encode(image, 101)
    with pytest.raises(ParameterError, match="unknown codec"):
        make_codec("jpeg2000")
    with pytest.raises(ParameterError, match="needs a VAE"):
        make_codec("latent-quant")
    assert isinstance(VaeOnlyCodec(StandInVae()).encode(image), bytes)


def test_default_grids_start_at_the_lowest_quality() -> None:
    """Each Pillow curve begins at the format's lowest setting, with distinct file sizes."""
    image = np.array(Image.open(KODAK / "kodim03.png"))[:192, :256]
    names = ["jpeg", "webp"] + (["avif", "avif-slow"] if features.check("avif") else [])
    for name in names:
        codec = make_codec(name)
        assert codec.parameters[0] == codec.qualities[0], name
        sizes = [len(codec.encode(image, q)) for q in codec.parameters[:3]]
        assert sizes[0] < sizes[1] < sizes[2], (name, sizes)  # no repeated point at the bottom
    assert make_codec("jpeg").qualities == (1, 100)
    with pytest.raises(ParameterError, match="integer 1–100"):
        make_codec("jpeg").encode(image, 0)
    if features.check("avif"):
        fast, slow = make_codec("avif"), make_codec("avif-slow")
        assert (fast.save_options["speed"], slow.save_options["speed"]) == (4, 2)
        assert slow.parameters == fast.parameters


def test_eval_dataset_option(crops: list[Path], tmp_path: Path, monkeypatch, capsys) -> None:
    """--dataset takes a folder; clic2020 without the data is one clear line and exit code 2."""
    from clric_utils.cli import main
    from clric_utils.data import CLIC2020_URL
    from clric_utils.paths import CLIC_ENV

    out = tmp_path / "folder.csv"
    argv = ["--dataset", str(crops[0].parent), "--codec", "jpeg", "--params", "20",
            "--metrics", "psnr", "--out", str(out), "--quiet"]  # fmt: skip
    assert eval_command.run(_parse(eval_command, argv)) == 0
    assert sorted(pd.read_csv(out)["image"]) == ["crop01.png", "crop07.png"]

    monkeypatch.delenv(CLIC_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    capsys.readouterr()
    assert main(["eval", "--dataset", "clic2020", "--codec", "jpeg", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and CLIC2020_URL in error and CLIC_ENV in error
    assert main(["eval", "--dataset", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    with pytest.raises(SystemExit):  # --images and --dataset exclude each other
        _parse(eval_command, ["--images", "a.png", "--dataset", "kodak"])


def test_clric_codec_in_a_sweep(tmp_path: Path) -> None:
    from clric_utils.vae import load_vae

    image = np.array(Image.open(KODAK / "kodim01.png"))[:48, :64]
    Image.fromarray(image).save(tmp_path / "small.png")
    out = tmp_path / "clric.csv"
    frame = run_sweep(
        [tmp_path / "small.png"], ["clric"], load_vae("tiny", "cpu"), out, parameters=[0.01],
        metrics=["psnr"], codec_options={"effort": "fast"}, progress=False,
    )  # fmt: skip
    row = frame.iloc[0]
    assert (row["codec"], row["vae"], row["parameter"]) == ("clric", "tiny", 0.01)
    assert row["bytes"] > 0 and row["bpp"] == pytest.approx(8 * row["bytes"] / (48 * 64))
    assert np.isfinite(row["psnr"])


def test_plots_and_tables(swept: Path, crops: list[Path], tmp_path: Path) -> None:
    figure = plot_rd(swept, out_path=tmp_path / "figures" / "rd.png")
    assert isinstance(figure, Figure) and sum(axis.axison for axis in figure.axes) == 5
    assert (tmp_path / "figures" / "rd.png").stat().st_size > 10_000

    table = mean_table(swept)
    assert len(table) == 4 and (table["images"] == 2).all()
    bd = bd_rate_table(swept, anchor="jpeg", method="pchip")
    assert bd.set_index("codec").loc["jpeg", "psnr"] == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(bd.set_index("codec").loc["webp", "ms_ssim"])  # no MS-SSIM on crops


def _parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_eval_and_plot_commands(crops: list[Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "results" / "cli.csv"
    argv = ["--images", str(crops[0].parent), "--codec", "jpeg", "webp", "--params", "20",
            "webp=30,60", "--metrics", "psnr", "--out", str(out), "--quiet"]  # fmt: skip
    assert eval_command.run(_parse(eval_command, argv)) == 0
    frame = pd.read_csv(out)
    assert sorted(zip(frame["codec"], frame["parameter"], strict=True)) == sorted(
        [("jpeg", 20)] * 2 + [("webp", 30)] * 2 + [("webp", 60)] * 2
    )
    figures = tmp_path / "figures"
    args = _parse(plot_command, ["--results", str(out.parent), "--out", str(figures)])
    assert plot_command.run(args) == 0
    assert (figures / "cli_rd.png").is_file()
    assert "BD-rate" in capsys.readouterr().out

    with pytest.raises(ParameterError, match="not in --codec"):
        eval_command.run(_parse(eval_command, ["--codec", "jpeg", "--params", "avif=5"]))
    with pytest.raises(ParameterError, match="cannot read"):
        eval_command.run(_parse(eval_command, ["--codec", "jpeg", "--params", "jpeg=5,x"]))
    with pytest.raises(ClricError):
        plot_command.run(_parse(plot_command, ["--results", str(tmp_path / "nothing")]))


def test_clric_plot_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`clric plot` draws one figure per CSV and prints BD-rates against the anchor."""
    from clric_utils.cli import main

    rows = []
    for codec, scale in (("jpeg", 1.0), ("webp", 0.8)):
        for step, quality in enumerate((5, 10, 20, 40)):
            bpp = scale * 0.1 * 2**step
            rows.append({"image": "a.png", "codec": codec, "vae": "none", "parameter": quality,
                         "bytes": bpp * 1000, "bpp": bpp, "psnr": 25 + 3 * step,
                         "encode_s": 0.0, "decode_s": 0.0})
    frame = pd.DataFrame(rows)
    for name in COLUMNS:
        if name not in frame:  # as the sweep writes them: provenance "none", metrics NaN
            frame[name] = "none" if name in PROVENANCE else math.nan
    frame[list(COLUMNS)].to_csv(tmp_path / "set.csv", index=False)
    assert main(["plot", "--results", str(tmp_path / "set.csv"), "--out", str(tmp_path / "fig"),
                 "--metrics", "psnr"]) == 0
    assert (tmp_path / "fig" / "set_rd.png").stat().st_size > 1000
    # WebP needs 80 % of JPEG's bits at every quality: BD-rate −20 % over 25–34 dB.
    assert "-20.0 % over 25–34" in capsys.readouterr().out


def test_bd_rate_table_reports_no_overlap_below_the_rule() -> None:
    """Curves that share 0.2 dB of PSNR get "no overlap", not a number; 2 dB get a number."""
    from clric_utils.evaluation.summary import format_bd_table

    def rows(codec: str, psnrs: list[float]) -> list[dict]:
        return [{"image": "a.png", "codec": codec, "vae": "none", "parameter": float(i),
                 "bpp": 0.1 * 2**i, "psnr": p} for i, p in enumerate(psnrs)]

    frame = pd.DataFrame(rows("jpeg", [24.0, 26.0, 28.0, 30.0])
                         + rows("near", [29.8, 31.0, 32.0])   # shares 29.8–30: 0.2 dB
                         + rows("wide", [27.0, 29.0, 31.0]))  # shares 27–30: 3 dB
    table = bd_rate_table(frame, "jpeg", ["psnr"]).set_index("codec")
    assert math.isnan(table.loc["near", "psnr"])
    assert table.loc["near", "psnr_overlap"] == "no overlap"
    assert np.isfinite(table.loc["wide", "psnr"]) and table.loc["wide", "psnr_overlap"] == "27–30"
    printed = format_bd_table(table.reset_index(), ["psnr"]).set_index("codec")["psnr"]
    assert printed["near"] == "no overlap" and printed["wide"].endswith("% over 27–30")


def test_sweep_refuses_a_csv_without_provenance(crops: list[Path], tmp_path: Path) -> None:
    from clric_utils.evaluation.rows import COLUMNS_0_1

    out = tmp_path / "old.csv"
    out.write_text(",".join(COLUMNS_0_1) + "\n")
    with pytest.raises(ClricError, match="provenance"):
        run_sweep(crops, ["jpeg"], "house", out, progress=False)


def test_changing_preset_or_effort_computes_new_rows(tmp_path: Path) -> None:
    """The resume key holds the provenance: other settings are new rows, same ones are not."""
    from clric_utils.vae import load_vae

    image = np.array(Image.open(KODAK / "kodim01.png"))[:32, :48]
    Image.fromarray(image).save(tmp_path / "small.png")
    out = tmp_path / "clric.csv"
    vae = load_vae("tiny", "cpu")

    def sweep(preset: str, effort: str) -> pd.DataFrame:
        return run_sweep([tmp_path / "small.png"], ["clric"], vae, out, parameters=[0.1],
                         metrics=["psnr"], codec_options={"preset": preset, "effort": effort},
                         progress=False)

    assert len(sweep("paper", "fast")) == 1
    before = out.read_bytes()
    assert len(sweep("paper", "fast")) == 1 and out.read_bytes() == before  # reused
    assert len(sweep("lite", "fast")) == 2  # another preset: a new row
    frame = sweep("lite", "medium")  # another effort: a new row
    assert len(frame) == 3
    assert list(frame["preset"]) == ["paper", "lite", "lite"]
    assert list(frame["effort"]) == ["fast", "fast", "medium"]
    assert set(frame["seed"]) == {"0"}  # provenance is text
    assert set(frame["vae_weights"]) == {vae.weights_sha256}
    import clric_utils

    assert set(frame["version"]) == {clric_utils.__version__}


def test_plot_skips_and_refuses_non_sweep_csvs(swept: Path, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "good.csv").write_bytes(swept.read_bytes())
    (folder / "other.csv").write_text("a,b\n1,2\n")
    (folder / "empty.csv").write_text("")
    assert plot_command.find_csvs([folder]) == [folder / "good.csv"]
    with pytest.raises(ClricError, match="not a clric eval CSV"):
        plot_command.find_csvs([folder / "other.csv"])


def test_collect_images_kodak_names_repeats_and_clashes(
    crops: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    for number in range(1, 25):
        (kodak / f"kodim{number:02d}.png").write_bytes(crops[0].read_bytes())
    monkeypatch.setenv(KODAK_ENV, str(kodak))
    monkeypatch.chdir(tmp_path)
    found = eval_command.collect_images([Path("kodim01.png"), Path("kodim01.png")])
    assert found == [kodak / "kodim01.png"]
    assert eval_command.collect_images([crops[0], crops[0]]) == [crops[0]]
    twin = tmp_path / "twin" / crops[0].name
    twin.parent.mkdir()
    twin.write_bytes(crops[0].read_bytes())
    with pytest.raises(ParameterError, match="share the file name"):
        eval_command.collect_images([crops[0], twin])


def test_bad_device_and_clric_options_fail_early(crops: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="device"):
        run_sweep(crops, ["jpeg"], "house", tmp_path / "x.csv", device="nonsense")
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(ParameterError, match="preset"):
        make_codec("clric", vae=object(), preset="nope")


def test_matched_rate_table_interpolates_in_log_rate_and_never_extrapolates():
    from clric_utils.evaluation.summary import matched_rate_table

    rows = [
        {"image": "a.png", "codec": "clric", "vae": v, "parameter": p, "bpp": b, "psnr": q}
        for v, points in (("house", [(1, 0.1, 20.0), (2, 0.4, 30.0)]),
                          ("taef2", [(1, 0.2, 25.0), (2, 0.8, 27.0)]))
        for p, b, q in points
    ]
    table = matched_rate_table(pd.DataFrame(rows), [0.2, 0.6], ["psnr"])
    house = table[table["vae"] == "house"].set_index("bpp")["psnr"]
    taef2 = table[table["vae"] == "taef2"].set_index("bpp")["psnr"]
    assert house[0.2] == pytest.approx(25.0)  # halfway between 0.1 and 0.4 in log rate
    assert math.isnan(house[0.6])  # beyond the curve: not extrapolated
    assert taef2[0.2] == 25.0
    assert taef2[0.6] == pytest.approx(25.0 + 2.0 * math.log(3) / math.log(4))


def test_an_images_clric_lambdas_are_one_task(tmp_path: Path) -> None:
    """`clric eval` fits all λ of one image in one job: one task per (image, CLRIC), one per
    row for the others; the rows share the job's time and hold compress_grid's files."""
    from clric_utils.api import compress_grid
    from clric_utils.evaluation.sweep import tasks_of
    from clric_utils.vae import load_vae

    vae = load_vae("tiny", "cpu")
    clric, jpeg = make_codec("clric", vae=vae, effort="fast"), make_codec("jpeg")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    jobs = [(a, "clric", 1.0), (a, "jpeg", 5.0), (a, "clric", 0.01), (b, "clric", 1.0),
            (a, "jpeg", 9.0)]
    assert tasks_of(jobs, {"clric": clric, "jpeg": jpeg}) == [
        (a, "clric", (1.0, 0.01)), (a, "jpeg", (5.0,)), (b, "clric", (1.0,)), (a, "jpeg", (9.0,))]

    image = np.array(Image.open(KODAK / "kodim01.png"))[:48, :64]
    Image.fromarray(image).save(a)
    frame = run_sweep([a], ["clric"], vae, tmp_path / "clric.csv", parameters=[1.0, 0.01],
                      metrics=["psnr"], codec_options={"effort": "fast"}, progress=False)
    frame = frame.sort_values("parameter", ascending=False)
    assert list(frame["parameter"]) == [1.0, 0.01]
    assert frame["encode_s"].iloc[0] == frame["encode_s"].iloc[1] > 0
    files = compress_grid(image, [1.0, 0.01], vae=vae, effort="fast", progress=False)
    assert list(frame["bytes"]) == [len(f.data) for f in files]
