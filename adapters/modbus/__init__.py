"""Modbus TCP with SunSpec: model-chain discovery, codec, device driver and simulator."""
