"""Logic every adapter needs and none owns (adapters never import each other)."""
