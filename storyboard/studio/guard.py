"""Only this machine's own names reach the studio: a pure ASGI middleware against DNS rebinding.

A web page can rebind its own name (``evil.example``) to 127.0.0.1; the browser then sends
the studio requests that are *same-origin* for that page, and lets it read the answers. Such
requests carry the page's name: ``Host: evil.example:7860``, ``Origin: http://evil.example:7860``.
:class:`LocalOnly` answers every request (HTTP and websocket, every route: the page, ``/config``,
``/gradio_api/...``, ``/gradio_api/file=...``, the queue's routes) with 403 unless:

- its ``Host`` names this server: ``127.0.0.1``, ``localhost`` or ``[::1]``, or the address it
  listens on (``--host``) when that is not a loopback one; with the port it listens on. A server
  listening on every address (``0.0.0.0``, ``::``) also takes any IP address (a name can be
  rebound; an address cannot);
- its ``Origin``, when it has one, is ``http://`` and such a name and port (``null``, sent by
  sandboxed frames and local files, is refused too).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "[::]")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")


def url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets, names in lower case."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def is_ip(name: str) -> bool:
    """Whether ``name`` (as a URL writes it) is an IP address rather than a name."""
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return False
    return True


class LocalOnly:
    """ASGI middleware: refuse (403) any request whose ``Host`` or ``Origin`` is not this server's.

    ``listen``: the address the server listens on (``--host``). The port is the one the request
    arrived on (``scope["server"]``), so the rule holds whichever port the server took.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], listen: str = "127.0.0.1"):
        self.app = app
        listen = url_host(listen)
        self.names = {*LOOPBACK_NAMES, listen}
        self.any_ip = listen in ANY_ADDRESS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        why = self.refusal(scope)
        if why is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # closed before it is accepted: the server answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": why})
            return
        body = f"refused: {why}\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope) -> str | None:
        """Why the request is refused (a short text), or None when it may go on."""
        server = scope.get("server")
        port = server[1] if server and len(server) > 1 else None
        if port is None:
            return "the studio cannot tell which port this request came to"
        hosts = [value for key, value in scope.get("headers", []) if key == b"host"]
        if len(hosts) != 1:
            return "a request needs exactly one Host header"
        host = hosts[0].decode("latin-1")
        if not self.ours(host, port):
            return (f"Host {host[:100]!r} is not this studio's address; open it as http://127.0.0.1:{port}/ "
                    f"(the studio answers only its own addresses, so other web pages cannot reach it)")
        origins = [value for key, value in scope.get("headers", []) if key == b"origin"]
        if len(origins) > 1:
            return "a request may have one Origin header"
        if origins:
            origin = origins[0].decode("latin-1")
            if not origin.lower().startswith("http://") or not self.ours(origin[len("http://"):], port):
                return f"Origin {origin[:100]!r} is not this studio's page: other web pages may not use the studio"
        return None

    def ours(self, host: str, port: int) -> bool:
        """Whether ``host`` (a Host header, or an origin after ``http://``) names this server and ``port``."""
        match = _HOST.fullmatch(host)
        if match is None:
            return False
        name, given = match[1].lower(), match[2]
        if (int(given) if given is not None else 80) != port:
            return False
        return name in self.names or (self.any_ip and is_ip(name))
