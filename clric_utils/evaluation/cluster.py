"""Where a sweep's tasks run: a Dask client on a local cluster or on an existing scheduler.

Without a scheduler address, :func:`dask_client` starts a ``LocalCluster`` for the sweep and
closes it afterwards: one worker thread inside this process for ``workers=1`` (no process to
start, no TCP between scheduler and worker), else ``workers`` worker processes with one thread
each (Dask's nannies start them with ``OMP_NUM_THREADS=1``, so torch uses one core per worker,
but without the nannies' ``MALLOC_TRIM_THRESHOLD_``: see ``NANNY_ENVIRON``).
Everything of a local cluster listens on 127.0.0.1 only. With an address (``--scheduler``, or
Dask's ``scheduler-address`` setting, which the ``DASK_SCHEDULER_ADDRESS`` environment variable
sets) the sweep runs on that cluster's workers and leaves the cluster running.

Every failure to reach or use a cluster is a :class:`~clric_utils.errors.ClusterError` with a
bounded wait: Dask's connect timeout (``distributed.comm.timeouts.connect``, 30 s unless
configured) and ``worker_timeout`` for the first worker to join.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, ParameterError

if TYPE_CHECKING:  # Dask is imported on first use: `clric` starts without it
    from distributed import Client, LocalCluster

#: Seconds to wait for the first worker of an existing cluster (e.g. SLURM jobs starting).
WORKER_TIMEOUT_S = 300.0


def configured_scheduler() -> str | None:
    """The scheduler address from Dask's configuration (``DASK_SCHEDULER_ADDRESS``), if any."""
    import dask

    address = dask.config.get("scheduler-address", None)
    return (str(address).strip() or None) if address else None


def default_workers(device: str) -> int:
    """Local worker processes when none are asked for: one per core, or one for a GPU."""
    if device.startswith("cuda"):
        return 1  # several processes on one GPU contend; run one worker per GPU instead
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


#: The environment Dask's nannies give local worker processes: Dask's default less
#: ``MALLOC_TRIM_THRESHOLD_=65536``. Setting that variable turns off glibc's dynamic mmap
#: threshold, so every large tensor of a fit is mmap'ed and unmapped again at every iteration:
#: measured here, a 100-step ``slim`` fit on a 32×64×96 latent took 18.4 s (12.1 s CPU) with it
#: and 8.0 s (5.2 s CPU) without, and a whole Kodak fit ≈ 190 s instead of ≈ 60 s.
NANNY_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


def _local_cluster(workers: int, dashboard: bool) -> LocalCluster:
    """A cluster on this machine only (scheduler and dashboard on 127.0.0.1)."""
    import dask
    from distributed import LocalCluster

    processes = workers > 1
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": NANNY_ENVIRON}):
            return LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                host="127.0.0.1" if processes else None,  # in-process: Dask's inproc transport
                # Dask's scheduler serves HTTP even without the dashboard: keep it on 127.0.0.1.
                dashboard_address="127.0.0.1:0",
                # In-process, the dashboard's link would name the machine's address.
                scheduler_kwargs={"dashboard": dashboard and processes},
                memory_limit=0,  # the OS decides; Dask's limit would kill large encodes
                silence_logs=logging.WARNING,
            )
    except RuntimeError as error:  # "Cluster failed to start", e.g. no free port
        raise ClusterError(f"cannot start a local Dask cluster: {error}") from None


def _check_address(address: str) -> None:
    """Refuse a malformed scheduler address before any connection is tried."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)  # an unknown scheme fails here
        if scheme in {"tcp", "tls", "ws", "wss"}:
            host, port = parse_host_port(location)
            if not host or not 0 < port < 65536:
                raise ValueError("it needs a host and a port from 1 to 65535")
    except ValueError as error:
        raise ClusterError(
            f"bad Dask scheduler address {address!r} ({error}); expected e.g. tcp://host:8786"
        ) from None


def _connect(address: str, worker_timeout: float) -> Client:
    """A client of the scheduler at ``address``, once at least one worker has joined."""
    from distributed import Client

    _check_address(address)
    try:
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    try:
        client.wait_for_workers(1, timeout=worker_timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(
            f"the Dask scheduler at {address} has had no worker for {worker_timeout:g} s; "
            f"start one with: dask worker {address} --nthreads 1"
        ) from None
    return client


@contextmanager
def dask_client(
    scheduler: str | None,
    workers: int,
    dashboard: bool = False,
    worker_timeout: float | None = None,
) -> Iterator[Client]:
    """A client of ``scheduler`` if given, else of a new local cluster of ``workers`` workers.

    An existing cluster keeps running afterwards; its first worker is awaited
    ``worker_timeout`` seconds (default :data:`WORKER_TIMEOUT_S`). A local cluster is closed
    afterwards; ``dashboard`` starts its dashboard (on 127.0.0.1, with worker processes only).
    """
    if scheduler:
        client = _connect(scheduler, WORKER_TIMEOUT_S if worker_timeout is None else worker_timeout)
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ParameterError(f"workers must be ≥ 1, got {workers}")
    from distributed import Client

    with _local_cluster(workers, dashboard) as cluster, Client(cluster, set_as_default=False) as c:
        yield c


def dashboard_link(client: Client) -> str | None:
    """The dashboard's address when the scheduler serves one (it needs bokeh), else ``None``."""

    def serves_dashboard(dask_scheduler: Any) -> bool:
        return "dashboard" in dask_scheduler.services and find_spec("bokeh") is not None

    try:
        return client.dashboard_link if client.run_on_scheduler(serves_dashboard) else None
    except (OSError, TimeoutError, ValueError):  # e.g. a scheduler that blocks run_on_scheduler
        return None
