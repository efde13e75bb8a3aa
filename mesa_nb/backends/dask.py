"""Run sweeps on a Dask distributed cluster (``pip install 'mesa_nb[dask]'``).

The cluster does the scheduling; mesa_nb only hands it tasks of several runs
through ``Client.get_executor()``, so every backend shares one dispatch loop.
Running tasks stop cooperatively: each run checks a ``distributed.Event``
between steps (at most twice a second).
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Callable
from typing import Any

from ..core.backend import Backend, PolledStop
from ..core.errors import SweepOptionError

#: How often a running task asks the scheduler whether the sweep was stopped.
STOP_POLL_SECONDS = 0.5

_local_cluster: Any = None
_local_lock = threading.Lock()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "Running on Dask needs dask.distributed: pip install 'mesa_nb[dask]'"
        ) from None
    return distributed


def is_dask_client(obj: Any) -> bool:
    """True for a ``distributed.Client`` (without importing dask otherwise)."""
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "scheduler")


class PollingStop(PolledStop):
    """A stop flag for worker-side runs, backed by a Dask Event (``address``:
    its name)."""

    interval = STOP_POLL_SECONDS

    def poll(self) -> bool:
        """Ask the scheduler."""
        if getattr(self, "_event", None) is None:
            self._event = _distributed().Event(self.address)
        return self._event.is_set()


class DaskBackend(Backend):
    """Tasks go to a Dask cluster through ``client.get_executor(pure=False)``."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        distributed = _distributed()
        self.client = client
        self.executor = client.get_executor(pure=False)
        self.workers = max(1, sum(client.nthreads().values()))
        self.stop_token = PollingStop(f"mesa_nb-stop-{uuid.uuid4().hex}")
        self._killed_worker = distributed.KilledWorker

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.executor.submit(fn, *args)

    def abort(self) -> None:
        _distributed().Event(self.stop_token.address, client=self.client).set()
        self.executor.shutdown(wait=False)

    def crashed(self, exc: BaseException) -> bool:
        return isinstance(exc, self._killed_worker)


def _ignore_sigint_plugin() -> Any:
    distributed = _distributed()

    class IgnoreSigint(distributed.WorkerPlugin):
        """Workers ignore SIGINT (set again on every restarted worker)."""

        name = "mesa_nb-ignore-sigint"

        def setup(self, worker: Any) -> None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


def local_client(workers: int) -> Any:
    """A ``LocalCluster`` started (once) by mesa_nb, and a client to it.

    Its worker processes ignore SIGINT, so interrupting the notebook kernel
    (which signals the kernel's whole process group) stops the sweep but
    leaves the cluster alive for the next one.
    """
    global _local_cluster
    distributed = _distributed()
    with _local_lock:
        cluster = _local_cluster
        stale = cluster is None or cluster.status.name != "running"
        if stale or len(cluster.worker_spec) != workers:
            if cluster is not None:
                cluster.close()
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
            _local_cluster = cluster
        client = distributed.Client(cluster, set_as_default=False)
        client.register_plugin(_ignore_sigint_plugin())
        return client


_clients: dict[str, Any] = {}


#: How long to try to reach a scheduler given by its address.
CONNECT_TIMEOUT = "10s"


def connect(address: str) -> Any:
    """A client to the scheduler at ``address``, kept for the next sweep."""
    client = _clients.get(address)
    if client is None or client.status != "running":
        try:
            client = _distributed().Client(
                address, set_as_default=False, timeout=CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepOptionError(
                f"Cannot reach a Dask scheduler at {address!r} ({type(exc).__name__}: "
                f"{exc}). Start one (dask scheduler), check the address and port, or "
                "give 'dask' for a local cluster.",
                field="client",
            ) from None
        _clients[address] = client
    return client
