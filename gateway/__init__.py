"""The running hub: configuration, REST API, storage, bus, security and CLI."""
