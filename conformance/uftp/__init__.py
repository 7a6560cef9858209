"""Conformance suite for UFTP participants (AGR or DSO role) and its message factories."""
