"""The documents client services serve: the AnyConnect client profile of
each connection profile where AnyConnect looks for it, and a front page."""

from __future__ import annotations

from html import escape
from typing import Callable

from ..conf.model import Config
from .http import Resource

# Where AnyConnect fetches profiles from a headend (its cache folder mirrors it).
PROFILE_FOLDER = "/CACHE/stc/profiles/"
XML = "text/xml; charset=utf-8"

# (config, connection profile name) -> the client profile XML
Renderer = Callable[[Config, str | None], str]


def _render_profile(config: Config, profile_name: str | None) -> str:
    # imported here: the profile writer is its own feature (`ikev2d profile`)
    from ..anyconnect_profile import render_profile

    return render_profile(config, profile_name)


def profile_path(profile_name: str) -> str:
    return f"{PROFILE_FOLDER}{profile_name}.xml"


def build_site(config: Config, render: Renderer = _render_profile, downloads: bool = True) -> dict[str, Resource]:
    """Path -> document, rendered once at start: the configuration is fixed
    while the daemon runs. The profile of each connection profile with
    client services enabled, when the interface allows `downloads` (SSL
    and client services both on, as the whitepaper says)."""
    site: dict[str, Resource] = {}
    if downloads:
        for profile in config.connection_profiles:
            if profile.enable_client_services:
                site[profile_path(profile.name)] = Resource(XML, render(config, profile.name).encode())
    site["/"] = Resource("text/html; charset=utf-8", _front_page(config, sorted(site), downloads).encode())
    return site


def _front_page(config: Config, paths: list[str], downloads: bool) -> str:
    links = "".join(f'<li><a href="{escape(p)}">{escape(p)}</a></li>' for p in paths)
    body = (f"<p>AnyConnect client profiles:</p><ul>{links}</ul>" if downloads else
            "<p>No downloads: a profile download needs both SSL and client services enabled.</p>")
    return (f"<!DOCTYPE html>\n<html><head><title>SSL VPN Service</title></head>"
            f"<body><h1>{escape(config.device.hostname)}</h1>{body}</body></html>\n")
