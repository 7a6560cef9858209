"""Compiled code is loaded off the request path when a hub process starts.

numba compiles a kernel on its first call (or loads it from its disk cache, ~0.5 s per
process): without this, the first FMAN aggregation or the first big envelope of each
worker would wait for it. A daemon thread never blocks shutdown.
"""

from __future__ import annotations

import threading


def compile_all() -> None:
    """Compile (or load from numba's disk cache) every kernel now, in this thread."""
    from adapters.flexoffer import scan
    from core.flexoffer import kernels

    scan.warm_up()
    kernels.warm_up()


def start() -> None:
    threading.Thread(target=compile_all, name="flexhub-jit-warm-up", daemon=True).start()
