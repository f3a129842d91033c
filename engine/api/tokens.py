"""API tokens: who a request comes from. Identity never comes from a request field.

The engine's owner gets a token automatically, in `<state dir>/owner.token` (mode 0600). An admin can
issue tokens for other users (for TCP access); only their SHA-256 digests are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

OWNER_TOKEN_FILE = "owner.token"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_owner_token(state_dir: Path) -> str:
    """Read the owner's token, creating it (mode 0600) on first use."""
    path = state_dir / OWNER_TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def read_owner_token(state_dir: Path) -> str | None:
    try:
        return (state_dir / OWNER_TOKEN_FILE).read_text().strip()
    except OSError:
        return None


class TokenRegistry:
    """Maps presented tokens to user names."""

    def __init__(self, owner: str, owner_token: str, issued: dict[str, str] | None = None) -> None:
        self.owner = owner
        self._owner_digest = digest(owner_token)
        self.issued = dict(issued or {})  # digest -> user

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        d = digest(token)
        if hmac.compare_digest(d, self._owner_digest):
            return self.owner
        return self.issued.get(d)

    def issue(self, user: str) -> tuple[str, str]:
        """A new token for `user`; returns (token, digest). The caller persists the digest."""
        token = secrets.token_urlsafe(32)
        d = digest(token)
        self.issued[d] = user
        return token, d
