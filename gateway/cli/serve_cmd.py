"""`flexhub serve`: run the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file")] = None,
        host: Annotated[str | None, typer.Option(help="Bind address (overrides the configuration)")] = None,
        port: Annotated[int | None, typer.Option(help="TCP port (overrides the configuration)")] = None,
        workers: Annotated[int | None, typer.Option(help="Worker processes (overrides the configuration)")] = None,
    ) -> None:
        """Start the hub (REST API and web root) with the given or embedded configuration."""
        import uvicorn

        from gateway.app import create_app
        from gateway.config import load_settings
        from gateway.services.store import announce_bootstrap_key, bootstrap_admin_key, open_store

        settings = load_settings(config)
        overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
        settings = settings.model_copy(update=overrides)
        common: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_level": settings.log_level,
                  "timeout_graceful_shutdown": 5}
        if settings.workers <= 1:
            from gateway import warm_up

            warm_up.start()  # (each worker of a multi-process hub warms its own, in gateway.workers)
            uvicorn.run(create_app(settings), **common)
            return
        # Several processes: migrate and announce the bootstrap key once here, then let each
        # worker accept on its own SO_REUSEPORT socket (see gateway.workers for why).
        from gateway.workers import WorkerPool

        engine, factory = open_store(settings)
        try:
            if settings.bootstrap_admin_key:
                announce_bootstrap_key(bootstrap_admin_key(factory))
        finally:
            engine.dispose()
        pool_options = {k: v for k, v in common.items() if k not in ("host", "port")}
        raise typer.Exit(WorkerPool(settings, settings.workers, pool_options).run())
