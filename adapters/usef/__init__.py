"""UFTP (Shapeshifter 3.x) adapter: safe parsing, sealing, schema and rule validation.

Everything here is I/O-free except ``transport`` (outbound HTTP); conversation state
(duplicates, references) lives in the gateway because it must survive restarts.
"""
