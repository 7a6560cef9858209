"""Ed25519 key material in the forms UFTP uses (CS1 scheme, libsodium ``crypto_sign``).

Private keys are the 64-byte libsodium secret key (seed ‖ public key) in base64 — the
form shapeshifter-uftp takes — so keys move between the two without conversion.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nacl.signing import SigningKey


@dataclass(frozen=True)
class KeyPair:
    private_key: str
    """base64 of the 64-byte libsodium secret key."""
    public_key: str
    """base64 of the 32-byte Ed25519 verify key."""

    @property
    def cs1(self) -> str:
        """The public key as published in DNS/exchanged out of band (``cs1.`` + base64)."""
        return "cs1." + self.public_key


def generate() -> KeyPair:
    return from_signing_key(SigningKey.generate())


def from_signing_key(key: SigningKey) -> KeyPair:
    verify = key.verify_key.encode()
    return KeyPair(
        private_key=base64.b64encode(key.encode() + verify).decode(),
        public_key=base64.b64encode(verify).decode(),
    )


@lru_cache(maxsize=64)
def load_private_key(text: str) -> KeyPair:
    """Accept a 64-byte secret key or a 32-byte seed, base64, optionally ``cs1.``-less whitespace."""
    raw = base64.b64decode(text.strip(), validate=True)
    if len(raw) == 64:
        pair = from_signing_key(SigningKey(raw[:32]))
        if base64.b64decode(pair.public_key) != raw[32:]:
            raise ValueError("secret key's public half does not match its seed")
        return pair
    if len(raw) == 32:
        return from_signing_key(SigningKey(raw))
    raise ValueError(f"an Ed25519 private key is 32 or 64 bytes, got {len(raw)}")


def read_key_file(path: str | Path) -> KeyPair:
    return load_private_key(Path(path).read_text(encoding="ascii"))


def normalize_public_key(text: str) -> str:
    """Registry input may come as ``cs1.<sign><box>``; keep only the 32-byte signing key, base64."""
    value = text.strip()
    if value.startswith("cs1."):
        value = value[4:]
    raw = base64.b64decode(value, validate=True)
    if len(raw) not in (32, 64):
        raise ValueError(f"a public key is 32 bytes (or 64 with the box key), got {len(raw)}")
    return base64.b64encode(raw[:32]).decode()
