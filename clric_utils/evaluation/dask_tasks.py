"""A sweep's tasks on Dask: what each worker holds, the task of one row or one image's λ grid,
the client's loop.

The client registers one :class:`SweepSetup` per sweep as a Dask worker plugin. The scheduler
hands it to every worker, including workers that join or are restarted later. A worker builds
the codecs from it, and loads the VAE for them, on the first task it runs and keeps them for
every later one: once per worker process, never once per task. Before its first row, the
worker checks that its rows would carry the provenance the client expects (same package
version, same VAE weights), so a cluster with mixed installations fails instead of writing
mislabelled rows.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from distributed import Client, KilledWorker, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ..devices import check_device
from ..errors import ClricError, ClusterError, ImageReadError
from .contenders import Codec, encodes_grids, make_codec
from .rows import (
    codec_provenance,
    evaluate_grid,
    evaluate_one,
    load_sweep_vae,
    read_image_rgb,
    vae_label,
)


class SweepSetup(WorkerPlugin):
    """The recipe of a sweep's codecs, and on a worker the codecs built from it.

    ``codecs`` are registry names or codec objects, ``vae`` a VAE name or object; objects are
    pickled with the plugin. ``expected`` maps each codec name to its rows' ``vae`` label and
    provenance as the client computed them.
    """

    def __init__(
        self,
        codecs: Sequence[str | Codec],
        vae: Any,
        device: str,
        metrics: Sequence[str],
        codec_options: Mapping[str, Any],
        expected: Mapping[str, tuple[str, Mapping[str, str]]],
    ) -> None:
        self.name = f"clric-sweep-{uuid.uuid4().hex}"  # the plugin's name on the cluster
        self.codecs = list(codecs)
        self.vae = vae
        self.device = device
        self.metrics = list(metrics)
        self.codec_options = dict(codec_options)
        self.expected = {codec: (label, dict(p)) for codec, (label, p) in expected.items()}
        self._built: dict[str, Codec] | None = None
        self._lock: threading.Lock | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the recipe only: built codecs and the lock stay on their worker."""
        return {**self.__dict__, "_built": None, "_lock": None}

    def setup(self, worker: Any) -> None:
        """Called by the worker on registration: nothing is built before the first task."""
        self._lock = threading.Lock()

    def teardown(self, worker: Any) -> None:
        """Called when the sweep ends: drop the codecs (named VAEs stay in load_vae's cache)."""
        self._built = None

    def built_codecs(self, worker_address: str) -> dict[str, Codec]:
        """The codecs by name, built (and checked) on the first call in this worker process."""
        with self._lock:
            if self._built is None:
                self._built = self._build(worker_address)
            return self._built

    def _build(self, worker_address: str) -> dict[str, Codec]:
        """Check the device, load the VAE, build the codecs and compare their provenance."""
        device = str(check_device(self.device))
        names = [c if isinstance(c, str) else c.name for c in self.codecs]
        vae = load_sweep_vae(self.vae, names, device)
        built = {
            name: make_codec(c, vae=vae, device=device, **self.codec_options)
            if isinstance(c, str) else c
            for name, c in zip(names, self.codecs, strict=True)
        }  # fmt: skip
        for name, codec in built.items():
            found = (vae_label(codec, vae, self.vae), codec_provenance(codec, vae))
            if found != self.expected[name]:
                raise ClricError(
                    f"Dask worker {worker_address} would label {name} rows {found}, the client "
                    f"expects {self.expected[name]}: install the same clric-utils version and "
                    "VAE weights on every worker"
                )
        return built


def evaluate_task(setup_name: str, path: str, codec_name: str,
                  parameters: tuple[float, ...]) -> list[dict[str, Any]]:
    """The CSV rows of one image and codec at ``parameters``, computed on the worker running
    this task: one job for all (``encode_grid``) for a codec that fits grids, else one encode
    per parameter.

    The image is read here, from ``path``: every worker must see the images at the same path.
    """
    worker = get_worker()
    if not Path(path).is_file():
        raise ImageReadError(
            f"{path}: not found on Dask worker {worker.address}; every worker must see the "
            "images at the same path (e.g. a shared file system)"
        )
    setup: SweepSetup = worker.plugins[setup_name]
    codec = setup.built_codecs(worker.address)[codec_name]
    label, provenance = setup.expected[codec_name]
    image, name = read_image_rgb(Path(path)), Path(path).name
    if encodes_grids(codec):
        return evaluate_grid(image, name, codec, label, parameters, setup.metrics, setup.device,
                             provenance)
    return [evaluate_one(image, name, codec, label, parameter, setup.metrics, setup.device,
                         provenance) for parameter in parameters]


def compute_rows(
    client: Client,
    setup: SweepSetup,
    tasks: Sequence[tuple[Path, str, tuple[float, ...]]],
    write: Callable[[dict[str, Any]], None],
) -> None:
    """Run one task per (image path, codec name, parameters) on ``client``'s cluster.

    Calls ``write`` with each row as its task finishes, here on the client. A task whose
    worker died is rerun by Dask (up to ``distributed.scheduler.allowed-failures`` times, then
    :class:`ClusterError`); a task that raises stops the sweep with its error. Tasks still
    queued then are cancelled, and the workers drop the sweep's codecs.
    """
    try:
        client.register_plugin(setup)
    except Exception as error:  # pickling here, or unpickling on a worker: any cause stops
        raise ClusterError(
            f"cannot hand the sweep's codecs and VAE to the Dask workers: "
            f"{type(error).__name__}: {error}"
        ) from None
    futures = [
        client.submit(evaluate_task, setup.name, str(path), codec, tuple(parameters))
        for path, codec, parameters in tasks
    ]
    task_of = {future.key: task for future, task in zip(futures, tasks, strict=True)}
    try:
        for future in as_completed(futures, loop=client.loop):
            try:
                rows = future.result()
            except KilledWorker as error:
                path, codec, parameters = task_of[error.task]
                at = ", ".join(f"{p:g}" for p in parameters)
                raise ClusterError(
                    f"{codec} on {path.name} at {at} killed each Dask worker that ran "
                    f"it ({error.allowed_failures + 1} in all; out of memory?), the last "
                    f"{error.last_worker.address}: see its log"
                ) from None
            future.release()
            for row in rows:
                write(row)
    finally:
        with contextlib.suppress(OSError, TimeoutError):  # the cluster may be gone already
            client.cancel(futures)
            client.unregister_worker_plugin(setup.name)
