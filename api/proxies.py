"""Who the client is behind a reverse proxy: ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed only when the
connection comes from a proxy listed in ``GRIDMAP_TRUSTED_PROXIES`` (addresses or CIDR networks).

Anyone can send those headers; only our own proxies may tell us who their client was. The address the rest of
the service sees (``request.client.host``, the rate limits' key) is the nearest hop that is not one of our proxies:
``X-Forwarded-For`` is read from the right, skipping trusted hops, so a client's own made-up entries on the left
are never taken. With no trusted proxies (the default), the headers are ignored and the socket's peer is the
client. ``gridmap serve`` turns uvicorn's own proxy-header handling off so this is the one rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` → networks; raises ``ValueError`` naming the entry that is not one."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"GRIDMAP_TRUSTED_PROXIES: {entry!r} 不是 IP 地址或网段 (not an address or CIDR "
                             f"network)") from exc
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_address(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...]) -> str | None:
    """The client's address: ``peer`` unless it is a trusted proxy, then the rightmost untrusted hop of
    ``X-Forwarded-For`` (or the leftmost hop when every one is trusted). A malformed hop ends the walk there: the
    last trusted hop's word is taken about the hop before it, nothing further left."""
    if not networks or not _trusted(_address(peer or ""), networks):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    found = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return found
        found = str(address)
        if not _trusted(address, networks):
            return found
    return found


class TrustedProxies:
    """ASGI middleware: set ``scope["client"]`` (and ``scope["scheme"]``) from the forwarding headers of trusted
    proxies only; strip nothing, believe nothing from anyone else."""

    def __init__(self, app, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope, receive, send):
        """Rewrite the client of HTTP and WebSocket requests that came through a trusted proxy."""
        if scope["type"] in ("http", "websocket") and self.networks:
            client = scope.get("client")
            peer = client[0] if client else None
            if _trusted(_address(peer or ""), self.networks):
                headers = scope.get("headers", ())
                forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
                address = client_address(peer, forwarded, self.networks)
                scope = dict(scope, client=(address, 0))
                proto = [v.decode("latin-1").split(",")[-1].strip().lower() for k, v in headers
                         if k == b"x-forwarded-proto"]
                if proto and proto[-1] in ("http", "https"):
                    scope["scheme"] = proto[-1] if scope["type"] == "http" else proto[-1].replace("http", "ws")
        return await self.app(scope, receive, send)
