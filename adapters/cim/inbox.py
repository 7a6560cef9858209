"""Watched inbox directory, for ADMS systems that export files instead of calling HTTP.

Each ``*.xml`` file in the inbox is handed to the hub's receiving pipeline; the file
then moves to ``processed/`` (accepted or partly accepted) or ``failed/`` (rejected
or unreadable), and the acknowledgement is written next to it as
``<name>.ack.xml`` (and to the outbox when one is configured). Writers should
create the file under another name (``*.tmp``) and rename it into place, so a half
written file is never picked up. The watcher polls: it works the same on local
disks, NFS and SMB shares, where change notifications are unreliable.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROCESSED = "processed"
FAILED = "failed"


@dataclass(frozen=True)
class HandledFile:
    name: str
    status: str
    ack: bytes | None


Handler = Callable[[bytes, str], tuple[str, bytes]]
"""(document bytes, file name) → (ack status A01/A02/B70, acknowledgement XML); persists first."""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class InboxWatcher:
    inbox: Path
    handler: Handler
    outbox: Path | None = None
    interval_seconds: float = 2.0

    def __post_init__(self) -> None:
        self.inbox = Path(self.inbox)
        for sub in (PROCESSED, FAILED):
            (self.inbox / sub).mkdir(parents=True, exist_ok=True)
        if self.outbox is not None:
            self.outbox = Path(self.outbox)
            self.outbox.mkdir(parents=True, exist_ok=True)

    def pending(self) -> list[Path]:
        return sorted(p for p in self.inbox.iterdir() if p.is_file() and p.suffix.lower() == ".xml")

    def handle(self, path: Path) -> HandledFile:
        try:
            status, ack = self.handler(path.read_bytes(), path.name)
        except Exception as exc:  # a broken handler must not wedge the inbox on one file
            target = self.inbox / FAILED / path.name
            os.replace(path, target)
            _atomic_write(target.with_name(target.name + ".error.txt"), f"{type(exc).__name__}: {exc}\n".encode())
            return HandledFile(path.name, "error", None)
        target = self.inbox / (FAILED if status == "A02" else PROCESSED) / path.name
        os.replace(path, target)
        _atomic_write(target.with_name(f"{path.stem}.ack.xml"), ack)
        if self.outbox is not None:
            _atomic_write(self.outbox / f"{path.stem}.ack.xml", ack)
        return HandledFile(path.name, status, ack)

    def scan_once(self) -> list[HandledFile]:
        return [self.handle(p) for p in self.pending()]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; file work runs in a thread so the event loop stays free."""
        while not stop.is_set():
            await asyncio.to_thread(self.scan_once)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
            except TimeoutError:
                pass
