"""Streamed JSON: the document printed item by item is byte for byte
json.dumps(indent=2) of the whole (render()'s text is the streamed text
joined, and the renderer tests hold it to the ASA samples)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ikev2d.show import ikev2_sa, ipsec_sa, sessiondb_sessions
from ikev2d.show.listing import Document, write_json
from test_show_support import child, session, snapshot


def printed(doc: Document) -> str:
    out = io.StringIO()
    write_json(doc, out)
    return out.getvalue()


@pytest.mark.parametrize("doc", [
    Document({"a": 1}),
    Document({}, "items", []),
    Document({}, "items", [{}]),
    Document({"kind": "x", "none": None, "list": [1, [2, {}]]}, "items", [{"n": 1}, {"n": [None, "é\n"]}, {}]),
    Document({"last": [None]}, "items", [{"deep": {"er": [{"x": None}]}}]),
])
def test_streamed_json_is_json_dumps(doc: Document) -> None:
    assert printed(doc) == json.dumps(doc.whole(), indent=2) + "\n"


def snapshots() -> list[Any]:
    two = session(unique_id=0x6001, remote_address="192.168.0.206", interface="inside",
                  children=(child(spi_in=1), child(spi_in=2, nat_t=False)))
    negotiating = session(unique_id=0x6002, state="EAP", children=())
    return [snapshot(), snapshot(session()), snapshot(session(), two, negotiating),
            snapshot(session(client_type="anyconnect"), two)]


@pytest.mark.parametrize("snap", snapshots())
def test_streamed_json_of_each_listing_is_its_whole_json(snap: Any) -> None:
    for document, whole in (
            (ikev2_sa.document, ikev2_sa.as_json),
            (ipsec_sa.document, ipsec_sa.as_json),
            (lambda h, s: sessiondb_sessions.document(h, s, "ra-ikev2-ipsec"),
             lambda h: sessiondb_sessions.as_json(h, "ra-ikev2-ipsec"))):
        once = iter(snap.sessions)  # read once, as from the socket
        assert printed(document(snap, once)) == json.dumps(whole(snap), indent=2) + "\n"
