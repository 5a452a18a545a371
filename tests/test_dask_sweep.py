"""`clric eval` on Dask: worker processes, a worker killed mid-sweep, an external cluster.

Everything listens on 127.0.0.1 and every wait is bounded. The sweeps are small crops with
JPEG (the machinery) and, where the rows' equality matters most, a fast CLRIC encode.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import torch
from distributed import Client, get_task_stream
from kodak_crops import write_kodak_crops

from clric_utils.cli import main
from clric_utils.errors import ClusterError
from clric_utils.evaluation.cluster import _local_cluster
from clric_utils.evaluation.contenders import jpeg_codec
from clric_utils.evaluation.sweep import COLUMNS, codec_provenance, run_sweep
from clric_utils.paths import KODAK_ENV

REPO = Path(__file__).resolve().parents[1]
KODAK = Path(os.environ.get(KODAK_ENV) or REPO.parent / "shared" / "data" / "kodak")

pytestmark = pytest.mark.skipif(
    not (KODAK / "kodim01.png").is_file(), reason="needs Kodak (CLRIC_KODAK_DIR)"
)

#: The columns that must agree between runs: everything but the timings.
SAME = [name for name in COLUMNS if name not in ("encode_s", "decode_s")]


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small Kodak crops (one with sides not a multiple of 8) in their own folder."""
    boxes = [(1, (200, 300, 32, 48)), (7, (100, 150, 30, 44))]
    return write_kodak_crops(KODAK, tmp_path_factory.mktemp("crops"), boxes)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # In-process runs use this process's torch threads; Dask's worker processes use one each.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_workers() -> Iterator[str]:
    """The scheduler address of a local cluster of 2 worker processes, as `clric eval` makes."""
    with _local_cluster(2, dashboard=False) as cluster:
        yield cluster.scheduler_address


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows without timings, sorted, with every value as its CSV text."""
    frame = frame[SAME].astype(str)
    return frame.sort_values(SAME[:4]).reset_index(drop=True)


def test_two_worker_processes_give_the_rows_of_one_process(
    crops: list[Path], two_workers: str, tmp_path: Path
) -> None:
    def sweep(out: Path, **where) -> pd.DataFrame:
        """JPEG on both crops, then one fast CLRIC encode (the costly part) on the first."""
        run_sweep(crops, ["jpeg"], "tiny", out, parameters=[10, 50], metrics=["psnr"],
                  progress=False, **where)  # fmt: skip
        return run_sweep(crops[:1], ["clric"], "tiny", out, parameters=[0.01], metrics=["psnr"],
                         codec_options={"effort": "fast"}, progress=False, **where)  # fmt: skip

    one = sweep(tmp_path / "one.csv", workers=1)
    with Client(two_workers) as client, get_task_stream(client) as stream:
        two = sweep(tmp_path / "two.csv", scheduler=two_workers)
    assert len(one) == 5 and (one["bytes"] > 0).all() and one["psnr"].notna().all()
    assert set(one["codec"]) == {"jpeg", "clric"}
    pd.testing.assert_frame_equal(_rows(one), _rows(two))  # same bytes, same metrics
    assert len({task["worker"] for task in stream.data}) == 2  # both processes worked


def test_a_worker_loads_the_vae_once_not_once_per_task(
    crops: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clric_utils.evaluation import dask_tasks

    loads = []

    def counting_load(*args):
        loads.append(args)
        return load(*args)

    load = dask_tasks.load_sweep_vae
    monkeypatch.setattr(dask_tasks, "load_sweep_vae", counting_load)  # the in-process worker's
    frame = run_sweep(
        crops, ["vae-only", "latent-quant"], "tiny", tmp_path / "vae.csv",
        parameters={"latent-quant": [0.2, 0.8]}, metrics=["psnr"], workers=1, progress=False,
    )  # fmt: skip
    assert len(frame) == 6 and len(loads) == 1


class KillingCodec:
    """JPEG whose encode at ``parameter`` SIGKILLs the process running it (a worker).

    It kills once, leaving the file ``marker``, or, with ``always``, every time.
    """

    uses_vae = False
    measures_rate = True

    def __init__(self, marker: Path, parameter: float, always: bool = False) -> None:
        self.name = "jpeg-kill"
        self.jpeg = jpeg_codec()
        self.parameters = self.jpeg.parameters
        self.marker = marker
        self.fatal = parameter
        self.always = always

    def encode(self, image: np.ndarray, parameter: float) -> bytes:
        """Die the first time (or every time), encode as JPEG otherwise."""
        if parameter == self.fatal and (self.always or not self.marker.exists()):
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.jpeg.encode(image, parameter)

    def decode(self, data: bytes) -> np.ndarray:
        """Plain JPEG decoding."""
        return self.jpeg.decode(data)


def test_a_worker_killed_mid_sweep_loses_and_repeats_no_row(
    crops: list[Path], two_workers: str, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    out = tmp_path / "killed.csv"
    qualities = [10, 20, 30, 40, 50]
    frame = run_sweep(
        crops, [KillingCodec(marker, 30)], "house", out, parameters=qualities,
        metrics=["psnr"], scheduler=two_workers, progress=False,
    )  # fmt: skip
    assert marker.exists()  # a worker process really died running a task
    pairs = sorted(zip(frame["image"], frame["parameter"], strict=True))
    assert pairs == sorted((c.name, q) for c in crops for q in qualities)  # each row once
    assert len(out.read_text().splitlines()) == 1 + len(pairs)


def test_a_task_that_kills_every_worker_stops_with_a_clear_error(
    crops: list[Path], tmp_path: Path
) -> None:
    from clric_utils.evaluation.cluster import dask_client
    from clric_utils.evaluation.dask_tasks import SweepSetup, compute_rows

    codec = KillingCodec(tmp_path / "killed", 30, always=True)
    expected = {codec.name: ("none", codec_provenance(codec, None))}
    setup = SweepSetup([codec], "house", "cpu", ["psnr"], {}, expected)
    rows = []
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with dask_client(None, 2) as client, pytest.raises(ClusterError) as caught:
            compute_rows(client, setup, [(crops[0], "jpeg-kill", (30.0,))], rows.append)
    assert rows == []
    message = str(caught.value)
    assert message.startswith("jpeg-kill on crop01.png at 30 killed each Dask worker that ran it")


def _dask(*args: str, log: Path) -> subprocess.Popen:
    """Start ``dask ARGS`` (the CLI of the installed Dask) with this checkout importable."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")])))
    with log.open("w") as handle:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, stdout=handle,
                                stderr=subprocess.STDOUT, cwd=log.parent)


def _stop(process: subprocess.Popen) -> None:
    """Terminate a process started here; kill it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture
def scheduler_process(tmp_path: Path) -> Iterator[str]:
    """Address of a `dask scheduler` process on 127.0.0.1 (no worker yet)."""
    info = tmp_path / "scheduler.json"
    process = _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(info), log=tmp_path / "scheduler.log")  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not info.is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info.is_file(), (tmp_path / "scheduler.log").read_text()
        time.sleep(0.2)  # the file is written whole, but give its writer a moment
        yield json.loads(info.read_text())["address"]
    finally:
        _stop(process)


def test_eval_on_a_separate_scheduler_and_worker(
    crops: list[Path], scheduler_process: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    address = scheduler_process
    base = ["eval", "--images", str(crops[0].parent), "--metrics", "psnr", "--quiet"]

    # No worker yet: a bounded wait, then one line and exit code 2.
    argv = [*base, "--codec", "jpeg", "--out", str(tmp_path / "none.csv")]
    assert main([*argv, "--scheduler", address, "--worker-timeout", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("clric eval: error:") and "no worker" in error
    assert len(error.splitlines()) == 1

    worker = _dask("worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                   "--memory-limit", "0", log=tmp_path / "worker.log")  # fmt: skip
    try:
        with Client(address, timeout=30) as client:
            out = tmp_path / "jpeg.csv"
            argv = [*base, "--codec", "jpeg", "--params", "10", "40", "--out", str(out)]
            with get_task_stream(client) as stream:
                assert main([*argv, "--scheduler", address, "--worker-timeout", "60"]) == 0
            assert len(pd.read_csv(out)) == 4
            workers = {task["worker"] for task in stream.data}
            assert len(stream.data) == 4 and workers == set(client.scheduler_info()["workers"])

            # DASK_SCHEDULER_ADDRESS instead of --scheduler
            monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
            dask.config.refresh()
            out = tmp_path / "webp.csv"
            argv = [*base, "--codec", "webp", "--params", "30", "--out", str(out)]
            with get_task_stream(client) as stream:
                assert main([*argv, "--worker-timeout", "60"]) == 0
            assert len(pd.read_csv(out)) == 2
            assert len(stream.data) == 2  # the tasks ran on that cluster
    finally:
        monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        dask.config.refresh()
        _stop(worker)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
        (["--scheduler", "tcp://127.0.0.1:notaport"], "bad Dask scheduler address"),
        (["--scheduler", "nonsense"], "bad Dask scheduler address"),
        (["--scheduler", "tcp://127.0.0.1:0"], "bad Dask scheduler address"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes"),
    ],
)
def test_bad_scheduler_is_one_error_line(
    crops: list[Path], tmp_path: Path, capsys, options: list[str], message: str
) -> None:
    argv = ["eval", "--images", str(crops[0]), "--codec", "jpeg", "--metrics", "psnr",
            "--quiet", "--out", str(tmp_path / "x.csv"), *options]  # fmt: skip
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(argv) == 2
    assert not (tmp_path / "x.csv").exists()
    error = capsys.readouterr().err.strip()
    assert error.startswith("clric eval: error:") and message in error
    assert len(error.splitlines()) == 1
