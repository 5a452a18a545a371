"""Run codecs over images and parameter grids, one CSV row per (image, codec, VAE, parameter).

The CSV is the single source of truth: rows are appended (and flushed) as they finish, and a
rerun skips every row already present, so an interrupted sweep resumes where it stopped. A
row's key is its image, codec, VAE and parameter plus its provenance: the CLRIC preset, effort
and seed, the SHA-256 of the VAE's weights and the package version. Changing any of them makes
the sweep compute new rows instead of taking old ones for done.

Before any work the CSV is checked row by row (:mod:`.results_file`): damaged rows (a line cut
by a kill, a field that is not a number, binary data…) are moved to ``<name>.bak``, the file
is rewritten atomically without them, and they are computed again; nothing is ever appended to
a damaged file, and the returned table holds valid rows only.

The rows are computed as Dask tasks, on a local cluster or an existing one
(:mod:`.cluster`, :mod:`.dask_tasks`); this process alone writes the CSV.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from ..devices import check_device
from ..errors import ImageReadError, ParameterError
from ..metrics.quality import METRIC_NAMES
from ..progress import progress_bar
from .cluster import dashboard_link, dask_client, default_workers
from .contenders import Codec, encodes_grids, make_codec
from .results_file import RATELESS_CODECS, load_valid_rows, repair_results_file
from .rows import COLUMNS, PROVENANCE, codec_provenance, load_sweep_vae, vae_label

Key = tuple[str, ...]


def row_key(row: Mapping[str, Any]) -> Key:
    """The resume key of a row (CSV strings or values): parameter as a float, the rest as text."""
    return (
        str(row["image"]), str(row["codec"]), str(row["vae"]), repr(float(row["parameter"])),
        *(str(row[name]) for name in PROVENANCE),
    )


def is_sweep_csv(path: Path | str) -> bool:
    """Whether ``path`` is a readable CSV whose header is exactly ``COLUMNS``."""
    try:
        columns = tuple(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return False
    return columns == COLUMNS


def sweep_csvs(folder: Path | str) -> list[Path]:
    """The evaluation CSVs (sweep columns) directly inside ``folder``, sorted (none if absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob("*.csv")) if is_sweep_csv(path)]


def _grids(
    codecs: Sequence[Codec], parameters: Mapping[str, Sequence[float]] | Sequence[float] | None
) -> dict[str, tuple[float, ...]]:
    """Parameter grid of every codec: override by name, one list for all, or the defaults."""
    grids = {codec.name: tuple(codec.parameters) for codec in codecs}
    if isinstance(parameters, Mapping):
        unknown = set(parameters) - set(grids) - {"*"}
        if unknown:
            raise ParameterError(f"parameters given for codecs not in the sweep: {sorted(unknown)}")
        if "*" in parameters:  # key "*": the grid of every codec not named explicitly
            grids = {name: tuple(parameters["*"]) for name in grids}
        grids.update({n: tuple(v) for n, v in parameters.items() if n != "*"})
    elif parameters is not None:
        grids = {name: tuple(parameters) for name in grids}
    return grids


def _check_arguments(
    paths: Sequence[Path],
    workers: int | None,
    metrics: Sequence[str],
    parameters: Mapping[str, Sequence[float]] | Sequence[float] | None,
) -> None:
    """Refuse missing images, image names with line breaks, bad workers, metrics, parameters."""
    for path in paths:
        if not path.is_file():
            raise ImageReadError(f"image not found: {path}")
        if "\n" in path.name or "\r" in path.name:
            raise ImageReadError(f"{path!r}: the CSV holds one row per line and rows are keyed "
                                 "by file name, so rename the image without its line break")
    if workers is not None and workers < 1:
        raise ParameterError(f"workers must be ≥ 1, got {workers}")
    unknown = [name for name in metrics if name not in METRIC_NAMES]
    if unknown:
        raise ParameterError(f"unknown metrics {unknown}; choose from {', '.join(METRIC_NAMES)}")
    _check_parameters(parameters)


def _check_parameters(
    parameters: Mapping[str, Sequence[float]] | Sequence[float] | None,
) -> None:
    """Refuse grid values that are not finite numbers (a NaN parameter would key no row)."""
    grids = parameters.values() if isinstance(parameters, Mapping) else [parameters or ()]
    for value in (value for grid in grids for value in grid):
        try:
            finite = math.isfinite(float(value))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise ParameterError(f"parameter {value!r} is not a finite number; give numbers "
                                 "such as 10 or 0.5")


def _rateless_codecs(codecs: Sequence[str | Codec]) -> frozenset[str]:
    """Names of the codecs whose rows have NaN bytes and bpp: registered ones, given objects."""
    return RATELESS_CODECS.union(
        c.name for c in codecs if not isinstance(c, str) and not c.measures_rate
    )


def _valid_keys(out_csv: Path, rateless_codecs: frozenset[str]) -> set[Key]:
    """Keys of the valid rows of ``out_csv``, after moving its damaged rows to ``<name>.bak``
    (they are then computed again; nothing is ever appended to a damaged file)."""
    rows = repair_results_file(out_csv, rateless_codecs).rows
    return {row_key(row) for row in rows.to_dict("records")}


def _csv_value(value: Any) -> Any:
    """Floats written with full precision (``nan``/``inf`` as pandas reads them)."""
    return repr(float(value)) if isinstance(value, float) else value


def tasks_of(jobs: Sequence[tuple[Path, str, float]],
             codecs: Mapping[str, Codec]) -> list[tuple[Path, str, tuple[float, ...]]]:
    """The sweep's tasks: (image path, codec name, parameters), one per row, except that the
    rows of one image by a codec that ``encodes_grids`` are one task (its λ grid in one job)."""
    tasks: dict[tuple, list[float]] = {}
    for index, (path, codec, parameter) in enumerate(jobs):
        key = (path, codec) if encodes_grids(codecs[codec]) else (path, codec, index)
        tasks.setdefault(key, []).append(parameter)
    return [(key[0], key[1], tuple(parameters)) for key, parameters in tasks.items()]


def run_sweep(
    images: Sequence[Path | str],
    codecs: Sequence[str | Codec],
    vae_name: Any,
    out_csv: Path | str,
    parameters: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    workers: int | None = 1,
    device: str = "cpu",
    progress: bool = True,
    metrics: Sequence[str] = METRIC_NAMES,
    codec_options: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    worker_timeout: float | None = None,
) -> pd.DataFrame:
    """Evaluate every image × codec × parameter not yet in ``out_csv``; return its valid rows.

    ``codecs`` are registry names or codec objects; ``vae_name`` is a name for
    :func:`clric_utils.vae.load_vae` or an already loaded VAE object (objects are pickled to
    the workers). ``parameters`` overrides the default grids: a list for all codecs, or a
    mapping from codec name (``"*"``: every codec not named) to a list.
    Metrics not in ``metrics`` are written as NaN (LPIPS-vgg and DISTS are slow on a CPU).

    The tasks, one per row (for CLRIC, one per image: its λ grid fitted in one job,
    ``ClricCodec.encode_grid``), run on Dask (see :mod:`clric_utils.evaluation.cluster`): on the
    existing cluster whose scheduler is at ``scheduler`` (``workers`` is then not used; its
    first worker is awaited ``worker_timeout`` seconds, default
    :data:`~clric_utils.evaluation.cluster.WORKER_TIMEOUT_S`), else on a local cluster of
    ``workers`` workers: ``1`` runs in this process, ``None`` means one process per core. Rows
    are written here, the single writer, in the order tasks finish; a task whose worker dies
    is run again by Dask, so every row is written once.

    Rows are resumed by (image, codec, vae, parameter) and their provenance (CLRIC preset,
    effort and seed, the VAE's weights hash, the package version): a run with other settings
    adds rows beside the old ones. Metrics are not part of the key. Damaged rows of ``out_csv``
    are first moved to ``<name>.bak`` (one line on stderr says so) and computed again
    (:func:`~clric_utils.evaluation.results_file.repair_results_file`).
    """
    if not scheduler:
        device = str(check_device(device))  # an existing cluster's workers check their own
    paths = [Path(p) for p in images]
    _check_arguments(paths, workers, metrics, parameters)
    names = [c if isinstance(c, str) else c.name for c in codecs]
    options = dict(codec_options or {})
    out_csv = Path(out_csv)
    rateless = _rateless_codecs(codecs)
    done = _valid_keys(out_csv, rateless)  # before any work: the CSV may be damaged

    # Built here, on the CPU, although the workers compute the rows: fails fast on unavailable
    # codecs and gives the grids, the vae labels and the provenance of the resume keys.
    vae = load_sweep_vae(vae_name, names, "cpu")
    built = [
        make_codec(c, vae=vae, device="cpu", **options) if isinstance(c, str) else c
        for c in codecs
    ]
    grids = _grids(built, parameters)
    labels = {codec.name: vae_label(codec, vae, vae_name) for codec in built}
    provenance = {codec.name: codec_provenance(codec, vae) for codec in built}

    out_csv.parent.mkdir(parents=True, exist_ok=True)
    jobs = [
        (path, codec.name, float(p))
        for path in paths
        for codec in built
        for p in grids[codec.name]
        if row_key({"image": path.name, "codec": codec.name, "vae": labels[codec.name],
                    "parameter": p, **provenance[codec.name]}) not in done
    ]
    total = sum(len(grids[c.name]) for c in built) * len(paths)

    new_file = not out_csv.is_file() or out_csv.stat().st_size == 0
    tasks = tasks_of(jobs, {codec.name: codec for codec in built})
    local_workers = min(workers or default_workers(device), max(len(tasks), 1))
    cluster = dask_client(scheduler, local_workers, progress, worker_timeout) if jobs else None
    with (
        cluster or nullcontext() as client,  # first: an unusable cluster leaves no CSV behind
        out_csv.open("a", newline="") as handle,
        progress_bar(total=total, initial=total - len(jobs), disable=not progress,
                     desc="eval") as bar,
    ):
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
            handle.flush()

        def write(row: dict[str, Any]) -> None:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
            handle.flush()  # a killed sweep keeps every finished row
            bar.update(1)

        if client is not None:
            from .dask_tasks import SweepSetup, compute_rows  # imports Dask (a second)

            link = dashboard_link(client) if progress else None
            if link:
                bar.write(f"Dask dashboard: {link}", file=sys.stderr)
            setup = SweepSetup(
                codecs, vae_name, device, metrics, options,
                {name: (labels[name], provenance[name]) for name in names},
            )  # fmt: skip
            compute_rows(client, setup, tasks, write)
    return load_valid_rows(out_csv, rateless)
