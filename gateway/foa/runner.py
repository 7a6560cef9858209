"""Running the agent as its own process (an on-site agent, or next to the hub).

It shares the hub's store: offers, alarms and measurements land where the REST API
and the FMAN read them. Devices are closed on the way out.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gateway.bus import EventBus
from gateway.config import Settings
from gateway.foa.config import AgentConfig, build_agent

log = logging.getLogger("flexhub.foa")


async def run_agent(config_path: Path, settings: Settings, stop: asyncio.Event | None = None) -> None:
    from gateway.services.store import open_store

    config = AgentConfig.load(config_path)
    engine, sessions = open_store(settings)
    try:
        await run_configured_agent(config, sessions, None, stop)
    finally:
        engine.dispose()


async def run_configured_agent(config: AgentConfig, sessions: sessionmaker[Session], bus: EventBus | None,
                               stop: asyncio.Event | None = None) -> None:
    """The agent on a store that is already open (its own process, or inside the hub's lifespan)."""
    agent = build_agent(config, sessions, bus)
    log.info("flex-offer agent for %s: %d devices, polled every %.1f s", config.party, len(agent.devices),
             config.poll_seconds)
    try:
        await agent.run(config.poll_seconds, stop)
    finally:
        for managed in agent.devices.values():
            await managed.device.close()
