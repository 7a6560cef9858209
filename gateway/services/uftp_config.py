"""UFTP settings of one hub: who we are, the market constants, and delivery tuning.

``Settings`` has no ``uftp`` section yet, so these are read from ``settings.uftp`` when
the lead adds it, else from ``FLEXHUB_UFTP__*`` environment variables (the config
loader's convention), and cached on ``app.state`` — never in a module global.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from adapters.usef import keys
from adapters.usef.rules import MarketRules
from adapters.usef.schema import SchemaSet, load_schemas


class UftpNotConfigured(RuntimeError):
    """The hub has no UFTP signing key, so it can neither answer nor send."""


class UftpSettings(BaseModel):
    domain: str = "flexhub.example.com"
    roles: list[str] = Field(default_factory=lambda: ["AGR", "DSO"])
    key_file: str | None = None
    private_key: str | None = None
    """base64 secret key; for tests and containers that inject secrets as variables."""
    xsd_dir: str | None = None
    """Official Shapeshifter XSDs to validate every inbound and outbound document; unset = structural only."""
    isp_duration_minutes: int = 15
    time_zone: str = "Europe/Amsterdam"
    congestion_points: list[str] | None = None
    max_days_ahead: int | None = None
    auto_offer: bool = True
    """AGR role: answer each accepted FlexRequest with a FlexOffer built from the portfolio."""
    offer_price_eur_per_mwh: float = 120.0
    portfolio_capacity_w: int = 250_000
    """Placeholder portfolio size until FMAN aggregation is wired (see docs/uftp.md)."""
    dso_limit_price_eur_per_mwh: float = 5000.0
    """DSO role: the most the hub pays for flexibility when clearing FlexOffers (FMAR limit price)."""
    retry_base_seconds: float = 2.0
    max_attempts: int = 12
    flush_interval_seconds: float = 5.0
    request_timeout_seconds: float = 10.0

    def keypair(self) -> keys.KeyPair:
        if self.private_key:
            return keys.load_private_key(self.private_key)
        if self.key_file:
            return keys.read_key_file(self.key_file)
        raise UftpNotConfigured("UFTP needs a signing key: set uftp.key_file (flexhub uftp keygen) or "
                                "uftp.private_key")

    def market(self) -> MarketRules:
        points = frozenset(self.congestion_points) if self.congestion_points is not None else None
        return MarketRules(
            isp_duration=timedelta(minutes=self.isp_duration_minutes),
            time_zone=self.time_zone,
            congestion_points=points,
            max_days_ahead=self.max_days_ahead,
        )

    def schemas(self) -> SchemaSet | None:
        return load_schemas(self.xsd_dir) if self.xsd_dir else None


def _from_env(prefix: str = "FLEXHUB_UFTP__") -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in os.environ.items():
        if key.startswith(prefix):
            name = key[len(prefix):].lower()
            data[name] = value.split(",") if name in ("roles", "congestion_points") else value
    return data


def resolve(app_state: Any) -> UftpSettings:
    """The app's UFTP settings: explicit ``app.state.uftp_settings``, ``settings.uftp``, or env."""
    cached = getattr(app_state, "uftp_settings", None)
    if isinstance(cached, UftpSettings):
        return cached
    settings = getattr(app_state, "settings", None)
    section = getattr(settings, "uftp", None)
    if isinstance(section, BaseModel):
        resolved = UftpSettings.model_validate(section.model_dump())
    elif isinstance(section, dict):
        resolved = UftpSettings.model_validate(section)
    else:
        resolved = UftpSettings.model_validate(_from_env())
    app_state.uftp_settings = resolved
    return resolved
