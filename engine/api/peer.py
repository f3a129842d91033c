"""Who is at the other end of a Unix-socket connection, from the kernel (SO_PEERCRED), never from the request.

uvicorn does not put a connection's peer into the ASGI scope, so the HTTP protocol is extended by one step:
when a connection is made, its peer's credentials are read once and every request on it carries them in
`scope["jobtui.peer"]`. TCP connections carry None.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from engine.accounts import account_of_uid

PEER_KEY = "jobtui.peer"
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket | None) -> Peer | None:
    """The credentials of the process connected to `sock`, if it is a Unix socket."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Peer(*_UCRED.unpack(raw))


def peer_in(scope: MutableMapping[str, Any]) -> Peer | None:
    return scope.get(PEER_KEY)


def user_of(peer: Peer, owner: str) -> str | None:
    """The user a peer acts as: root and the daemon's own uid are its owner; others, their Unix account."""
    if peer.uid in (0, os.getuid()):
        return owner
    account = account_of_uid(peer.uid)
    return account.user if account else None


class PeerAwareHTTP(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with each request's scope carrying the connection's peer."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        peer = peer_of(transport.get_extra_info("socket"))
        app = self.app

        async def with_peer(scope: Any, receive: Any, send: Any) -> None:
            scope[PEER_KEY] = peer
            await app(scope, receive, send)

        self.app = with_peer
