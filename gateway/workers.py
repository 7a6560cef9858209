"""Several hub worker processes, each accepting on its own ``SO_REUSEPORT`` socket.

Why not uvicorn's own ``--workers``: it shares ONE listening socket between processes, and
Linux wakes whichever worker is already busy in ``epoll``, so a handful of keep-alive
clients ended up mostly on one process (measured: CPU 93 % on one worker, 16 % on the
other). With ``SO_REUSEPORT`` every worker has its own accept queue and the kernel hashes
each new connection across them, so load spreads by connection.

The parent migrates and bootstraps the store once, holds a bound (never listening) socket
that reserves the port (which also resolves port 0), starts the workers, restarts one that
dies, and on SIGINT/SIGTERM stops them all.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from gateway.config import Settings

log = logging.getLogger("flexhub.workers")

# A worker that dies this soon after starting counts as a crash at start-up (bad config,
# port taken...): restarting it in a loop would only burn CPU, so after a few in a row we stop.
QUICK_DEATH_SECONDS = 3.0
MAX_QUICK_DEATHS = 5
PR_SET_PDEATHSIG = 1


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``; not listening yet."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGTERM this worker if the supervisor dies (even by SIGKILL): no orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own shutdown still applies
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def serve_worker(settings: Settings, port: int, parent_pid: int, uvicorn_options: dict[str, Any]) -> None:
    """Worker process body: bind its own socket on the shared port and serve the app on it."""
    import uvicorn

    from gateway import warm_up
    from gateway.app import create_app

    _die_with_parent(parent_pid)
    warm_up.start()  # each process has its own numba dispatchers
    sock = reuseport_socket(settings.host, port)
    # The supervisor already migrated the store and announced the bootstrap key: once, not per worker.
    app = create_app(settings.model_copy(update={"migrate_on_start": False, "bootstrap_admin_key": False}))
    config = uvicorn.Config(app, host=settings.host, port=port, **uvicorn_options)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises a terminal's Ctrl-C after its graceful shutdown
        pass


class WorkerPool:
    """Supervises ``count`` worker processes serving ``settings`` on one port."""

    def __init__(self, settings: Settings, count: int, uvicorn_options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.count = count
        self.uvicorn_options = dict(uvicorn_options or {})
        self._context = multiprocessing.get_context("spawn")  # no inherited threads, locks or engines
        self._workers: dict[int, tuple[BaseProcess, float]] = {}  # slot -> (process, start time)
        self._stop_signal: int | None = None
        self._quick_deaths = 0

    def _start(self, slot: int, port: int) -> None:
        process = self._context.Process(
            target=serve_worker, name=f"flexhub-worker-{slot}",
            args=(self.settings, port, os.getpid(), self.uvicorn_options))
        process.start()
        self._workers[slot] = (process, time.monotonic())
        log.info("flexhub worker %d started (pid %s)", slot, process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (returns 0) or until workers keep crashing at start (returns 1)."""
        reservation = reuseport_socket(self.settings.host, self.settings.port)
        port = reservation.getsockname()[1]
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in range(self.count):
                self._start(slot, port)
            print(f"flexhub: {self.count} worker processes on http://{self.settings.host}:{port} "
                  f"(pids {', '.join(str(p.pid) for p, _ in self._workers.values())})", flush=True)
            status = self._supervise(port)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reservation.close()
        return status

    def _supervise(self, port: int) -> int:
        while self._stop_signal is None:
            sentinels = {process.sentinel: slot for slot, (process, _) in self._workers.items()}
            for ready in wait(list(sentinels), timeout=0.5):
                if self._stop_signal is not None:
                    break
                slot = sentinels[ready]  # type: ignore[index]
                process, started = self._workers[slot]
                process.join()
                log.warning("flexhub worker %d (pid %s) exited with %s; restarting it",
                            slot, process.pid, process.exitcode)
                if time.monotonic() - started < QUICK_DEATH_SECONDS:
                    self._quick_deaths += 1
                    if self._quick_deaths >= MAX_QUICK_DEATHS:
                        log.error("flexhub workers keep dying at start-up; giving up")
                        return 1
                    time.sleep(0.2 * 2 ** self._quick_deaths)
                else:
                    self._quick_deaths = 0
                if self._stop_signal is None:
                    self._start(slot, port)
        return 0

    def _stop_all(self) -> None:
        """SIGTERM every worker (uvicorn's graceful shutdown), then SIGKILL what outlives the grace."""
        # SIGTERM even when we got SIGINT: a terminal's Ctrl-C already reached the workers, and
        # a second SIGINT would make uvicorn skip its graceful shutdown; a SIGTERM does not.
        processes = [process for process, _ in self._workers.values()]
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        grace = float(self.uvicorn_options.get("timeout_graceful_shutdown") or 5) + 5
        deadline = time.monotonic() + grace
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("flexhub worker pid %s ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.join()
        self._workers.clear()
