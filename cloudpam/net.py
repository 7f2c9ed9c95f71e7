"""The client address of a request, trusting ``X-Forwarded-For`` only from known proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 192.0.2.1:443
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """Return the address of the client that sent ``request``, or None when unknown.

    ``X-Forwarded-For`` is only believed when the connection comes from one of
    ``TRUSTED_PROXIES``: anyone can send the header, and an audit trail or a
    rate limit keyed on a forged address is worthless. The header is then
    read from the right, skipping the trusted proxies, so a client cannot
    smuggle an address in front of the real one.
    """
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    trusted = _trusted_networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    forwarded = request.headers.get("X-Forwarded-For", "")
    if remote is not None and trusted and forwarded and any(remote in net for net in trusted):
        for hop in reversed(forwarded.split(",")):
            address = _parse(hop)
            if address is None:
                break
            if not any(address in net for net in trusted):
                return str(address)
    return str(remote) if remote is not None else None
