"""`show asp table socket` against the whitepaper's three listings."""

from __future__ import annotations

from ikev2d.show import asp_socket
from ikev2d.show.snapshot import ListenerSnapshot
from test_show_support import snapshot

HEADER = "Protocol  Socket      State      Local Address      Foreign Address"
IKE = (ListenerSnapshot("IKE", "192.168.0.204", 500, 1), ListenerSnapshot("NAT-T", "192.168.0.204", 4500, 2))
SSL = ListenerSnapshot("SSL", "192.168.0.204", 443, 0x8BD8)
DTLS = ListenerSnapshot("DTLS", "192.168.0.204", 443, 0x16958)


def test_ssl_only_as_the_whitepaper_lists_it() -> None:
    """Second listing: IPsec-IKEv2 on, SSL off, client services on."""
    text = asp_socket.render(snapshot(listeners=IKE + (SSL,)))
    assert text == f"\n{HEADER}\nSSL       00008bd8    LISTEN     192.168.0.204:443  0.0.0.0:*\n"


def test_nothing_listens_but_ike_gives_an_empty_table() -> None:
    """Third listing: client services off; IKE's UDP 500/4500 are not listed."""
    assert asp_socket.render(snapshot(listeners=IKE)) == f"\n{HEADER}\n"


def test_ssl_and_dtls() -> None:
    """First listing. The whitepaper's DTLS row is one column short (a
    copy slip: its Socket value starts a column left of the header); ours
    keeps the header's columns."""
    lines = asp_socket.render(snapshot(listeners=(SSL, DTLS) + IKE)).splitlines()
    assert lines[2:] == ["SSL       00008bd8    LISTEN     192.168.0.204:443  0.0.0.0:*",
                         "DTLS      00016958    LISTEN     192.168.0.204:443  0.0.0.0:*"]
    for line in lines[2:]:
        for column in ("Socket", "State", "Local Address", "Foreign Address"):
            assert line[HEADER.index(column) - 1] == " " and line[HEADER.index(column)] != " "


def test_long_addresses_keep_a_separating_space_and_json() -> None:
    wide = ListenerSnapshot("SSL", "198.51.100.200", 10443, 0x123456789)
    (line,) = asp_socket.render(snapshot(listeners=(wide,))).splitlines()[2:]
    assert line == "SSL       23456789    LISTEN     198.51.100.200:10443 0.0.0.0:*"
    assert asp_socket.as_json(snapshot(listeners=IKE + (SSL,))) == {"sockets": [
        {"protocol": "SSL", "socket": "00008bd8", "state": "LISTEN", "local_address": "192.168.0.204:443",
         "foreign_address": "0.0.0.0:*"}]}
