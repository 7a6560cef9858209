"""Hub configuration: one TOML file, then ``FLEXHUB_*`` environment overrides.

Environment wins over the file so that containers and CI can change a setting
without editing it; nested keys use a double underscore
(``FLEXHUB_CIM__XSD_DIR``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class CimSettings(BaseModel):
    xsd_dir: str | None = None
    inbox_dir: str | None = None
    outbox_dir: str | None = None
    # Body limit for /api/v1/cim* and inbox files: a day of bids for 100 resources (100 x 96
    # points) is ~1.5 MB, beyond the global max_body_bytes.
    max_body_bytes: int = 16 * 1024 * 1024
    # Polling interval of the inbox watcher that `flexhub serve` runs when inbox_dir is set.
    inbox_interval_seconds: float = 2.0


class SimulationSettings(BaseModel):
    """The simulated site `simulate_devices` starts (the same devices as `flexhub sim`)."""

    party: str = "sim-site"
    batteries: int = Field(default=1, ge=0)
    pv: int = Field(default=1, ge=0)
    opcua: bool = True
    iec61850: bool = True
    tick_seconds: float = Field(default=0.5, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    measurement_seconds: float = Field(default=60.0, ge=0)


class Settings(BaseModel):
    database_url: str = "sqlite:///./var/flexhub.db"
    host: str = "127.0.0.1"
    port: int = 8400
    max_body_bytes: int = 1024 * 1024
    workers: int = 1
    log_level: str = "info"
    # When true, requests without an API key act as the party "public" with read+write:
    # the embedded quick start must work without creating a key first.
    allow_anonymous: bool = False
    # Reject unknown fields in submitted flex-offers (per request: ?strict=true).
    strict: bool = False
    # On a database without any API key, create one admin key and print it once.
    bootstrap_admin_key: bool = True
    # Seconds a verified API key is remembered per process (0: query the store every request).
    api_key_cache_seconds: float = 30.0
    # On SQLite, POST /flexoffer bodies up to this size are ingested on the event loop, larger ones
    # (and all bodies on other databases) in a worker thread.
    inline_ingest_bytes: int = 64 * 1024
    # Large submissions ingested at the same time per process (the rest wait their turn). Two:
    # the lean path's compiled reader and SQLite's INSERT/commit release the GIL, so a second
    # envelope's Python work overlaps them, and a worker that the kernel handed most of the
    # connections can use the other core while its sibling waits on its few (measured with
    # 2 workers: CPU busy ~95 %/~92 % instead of 74 %/96 % on an uneven connection split).
    ingest_concurrency: int = 2
    # Store plain, sound {"flexOffer": [...]} envelopes without building a model per offer
    # (gateway/services/ingest_fast.py); anything else takes the full path either way.
    fast_ingest: bool = True
    # Run `alembic upgrade heads` when the app starts.
    migrate_on_start: bool = True
    cim: CimSettings = Field(default_factory=CimSettings)
    # Start simulated devices and the flex-offer agent in the hub (`make run` sets it; never in production).
    simulate_devices: bool = False
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    # Protocol sections are validated by their own services (OpenADRSettings, UftpSettings), so the
    # core settings need not import every adapter; unset means defaults plus FLEXHUB_<SECTION>__* vars.
    openadr: dict[str, Any] | None = None
    uftp: dict[str, Any] | None = None


def _env_overrides(prefix: str = "FLEXHUB_") -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in os.environ.items():
        if not key.startswith(prefix):
            continue
        path = key[len(prefix):].lower().split("__")
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: str | Path | None = None) -> Settings:
    data: dict[str, Any] = {}
    path = config_file or os.environ.get("FLEXHUB_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    env = _env_overrides()
    env.pop("config", None)
    known = set(Settings.model_fields)
    env = {k: v for k, v in env.items() if k in known}
    return Settings.model_validate(_merge(data, env))
