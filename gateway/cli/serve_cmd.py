"""`flexhub serve`: run the hub."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(config: Path | None = typer.Option(None, "--config", help="TOML configuration file")) -> None:
        """Start the hub (REST API and web root) with the given or embedded configuration."""
        import uvicorn

        from gateway.app import create_app
        from gateway.config import load_settings

        settings = load_settings(config)
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
