"""The adapter's side of a `CrlFetch`: read each source, a file or an
http:// URL, with a timeout. Blocking, so the transport runs it in a
thread; the core only ever sees the bytes (pki/crl.py)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from .crl import CrlFetch, CrlFetched, FetchedSource

FETCH_TIMEOUT = 5.0  # seconds per source; the client's IKE_AUTH retransmits meanwhile
MAX_CRL_BYTES = 8 * 1024 * 1024


def fetch_crl(job: CrlFetch, timeout: float = FETCH_TIMEOUT) -> CrlFetched:
    return CrlFetched(job.trustpoint, tuple(fetch_source(s, timeout) for s in job.sources))


def fetch_source(source: str, timeout: float = FETCH_TIMEOUT) -> FetchedSource:
    try:
        if source.lower().startswith("http://"):
            with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 (http only)
                data = response.read(MAX_CRL_BYTES + 1)
        else:
            with Path(source).open("rb") as file:
                data = file.read(MAX_CRL_BYTES + 1)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return FetchedSource(source, None, str(getattr(exc, "reason", None) or exc))
    if len(data) > MAX_CRL_BYTES:
        return FetchedSource(source, None, f"CRL larger than {MAX_CRL_BYTES} bytes")
    return FetchedSource(source, data)
