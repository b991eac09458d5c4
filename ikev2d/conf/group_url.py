"""Group URLs (`tunnel-group X webvpn-attributes` / `group-url URL enable`):
the form one is compared in, so the configuration and a client's URL meet
whatever case its host or a trailing slash is written in."""

from __future__ import annotations

from urllib.parse import urlsplit


def group_url_key(url: str) -> str | None:
    """`https://vpn.example.test/sales` as compared: scheme and host lower
    case, the default port and a trailing slash dropped; None when it is not
    an http(s) URL with a host (an ASA's group-url is one)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    default = {"http": 80, "https": 443}[scheme]
    netloc = parts.hostname.lower() + ("" if port in (None, default) else f":{port}")
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"
