"""One writer thread per hub process that commits UFTP work in groups.

Every inbound UFTP message must be committed (with its *Response and outbox row)
before it is acknowledged. Committing each one separately from a pool of threads made
the threads queue on the store's write lock and pay a commit each. Here requests hand
their work to one thread, which takes whatever has queued up, runs it in ONE
transaction and commits once; each request's future resolves only after that commit,
so "persist before acknowledging" holds exactly as before.

A job has a read-only ``check`` (its exception fails only that job) and a ``write``.
If a ``write`` raises, the group is rolled back and every job is re-run in its own
transaction, so one bad message never takes others down with it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("flexhub.uftp")
SHARED_TRANSACTION = "uftp_shared_transaction"
"""``Session.info`` key, set while one transaction carries several jobs: a job must never roll
it back (that would drop the others' rows); it raises instead and is re-run on its own."""


@dataclass
class Job:
    check: Callable[[Session], Any]
    """Read-only: parse, authenticate, validate. Its result is handed to ``write``."""
    write: Callable[[Session, Any], Any]
    future: Future[Any] = field(default_factory=Future)


class GroupWriter:
    """Runs submitted jobs on one thread, committing each group of queued jobs once."""

    def __init__(self, factory: sessionmaker[Any], lock: contextlib.AbstractContextManager[Any],
                 max_group: int = 64) -> None:
        self._factory = factory
        self._lock = lock
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="uftp-writer", daemon=True)
        self._thread.start()

    def submit(self, check: Callable[[Session], Any], write: Callable[[Session, Any], Any]) -> Future[Any]:
        job = Job(check, write)
        self._queue.put(job)
        return job.future

    def submit_write(self, write: Callable[[Session], Any]) -> Future[Any]:
        """A job with nothing to check (e.g. recording a delivery attempt)."""
        return self.submit(lambda _session: None, lambda session, _checked: write(session))

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            group = [job]
            while len(group) < self._max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit_group(group)
                    return
                group.append(more)
            self._commit_group(group)

    def _commit_group(self, group: list[Job]) -> None:
        try:
            with self._lock, self._factory() as session:
                session.info[SHARED_TRANSACTION] = True
                done = []
                for job in group:
                    try:
                        checked = job.check(session)
                    except Exception as exc:  # a rejected message: only this job fails
                        job.future.set_exception(exc)
                        continue
                    done.append((job, job.write(session, checked)))
                session.commit()
        except Exception:
            log.debug("UFTP group write failed; retrying its jobs one by one", exc_info=True)
            self._one_by_one([job for job in group if not job.future.done()])
            return
        for finished, result in done:
            finished.future.set_result(result)

    def _one_by_one(self, group: list[Job]) -> None:
        for job in group:
            try:
                with self._lock, self._factory() as session:
                    result = job.write(session, job.check(session))
                    session.commit()
            except Exception as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
