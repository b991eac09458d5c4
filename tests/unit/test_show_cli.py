"""The `show` and `vpn-sessiondb` command lines, the snapshot's JSON round
trip, the running-config hand-off and the summary's counters."""

from __future__ import annotations

import json
import sys
import types

import pytest

from ikev2d.commands.show import CommandError, resolve
from ikev2d.commands.vpn_sessiondb import parse
from ikev2d.control.stats import Presence, SessionStats
from ikev2d.show import running_config
from ikev2d.show.snapshot import Counter, ListenerSnapshot, Snapshot, from_dict, to_dict
from test_show_support import session, snapshot


@pytest.mark.parametrize(("words", "command"), [
    ("crypto ikev2 sa", ("crypto", "ikev2", "sa")),
    ("cry ikev2 sa det", ("crypto", "ikev2", "sa", "detail")),
    ("crypto ipsec sa", ("crypto", "ipsec", "sa")),
    ("vpn-sessiondb", ("vpn-sessiondb",)),
    ("vpn-sessiondb SUMMARY", ("vpn-sessiondb", "summary")),
    ("vpn ra", ("vpn-sessiondb", "ra-ikev2-ipsec")),
    ("vpn-sessiondb anyconnect", ("vpn-sessiondb", "anyconnect")),
    ("asp table socket", ("asp", "table", "socket")),
    ("run", ("running-config",)),
    ("running-config crypto ikev2", ("running-config",)),  # a section of it
    ("run tunnel-group", ("running-config",)),
])
def test_words_and_abbreviations(words: str, command: tuple[str, ...]) -> None:
    assert resolve(words.split()) == command


@pytest.mark.parametrize(("words", "message"), [
    ("crypto i sa", "Ambiguous"),
    ("crypto ikev2 sas", "Invalid input"),
    ("vpn-sessiondb detail", "Invalid input"),
])
def test_bad_words(words: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        resolve(words.split())


def test_logoff_words() -> None:
    assert parse(["logoff", "name", "alice"]) == ("name", "alice")
    assert parse(["logoff", "name", "alice", "noconfirm"]) == ("name", "alice")
    assert parse(["LOGOFF", "index", "3"]) == ("index", 3)
    for bad in (["logoff", "alice"], ["logoff", "index", "x"], ["kill", "name", "a"], ["logoff", "name"]):
        with pytest.raises(ValueError):
            parse(bad)


def test_snapshot_survives_json() -> None:
    original = snapshot(session(), session(unique_id=0x6001, state="EAP", children=(), assigned_ip=None),
                        listeners=(ListenerSnapshot("SSL", "198.18.0.1", 443, 7),))
    again = from_dict(Snapshot, json.loads(json.dumps(to_dict(original))))
    assert again == original
    assert isinstance(again.sessions[0].children[0].local_selectors, tuple)


def test_stats_count_new_sessions_and_the_peak() -> None:
    stats = SessionStats()
    a, b = Presence(1, "generic", ((10, True),)), Presence(2, "generic", ((20, False),))
    stats.observe([a])
    stats.observe([a, b])
    stats.observe([a, b])  # seen again: not new
    totals = stats.observe([b])
    assert totals.generic_ikev2 == Counter(active=1, cumulative=2, peak=2)
    assert totals.ikev2_tunnels == Counter(1, 2, 2)
    assert totals.ipsec_natt_tunnels == Counter(0, 1, 1)
    assert totals.ipsec_tunnels == Counter(1, 1, 1)
    assert stats.observe([Presence(3, "anyconnect", ())]).anyconnect == Counter(1, 1, 1)


def test_running_config_uses_the_renderer_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ikev2d.running_config", types.ModuleType("ikev2d.running_config"))
    assert running_config.render_config(object()) is None  # a module without the function
    fake = types.ModuleType("ikev2d.running_config")
    fake.render_running_config = lambda config: f"hostname {config}\n"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ikev2d.running_config", fake)
    text = running_config.render_config("FTDv-1")
    assert text == "hostname FTDv-1\n"
    assert running_config.render(text) == text
    assert running_config.as_json(text) == {"available": True, "lines": ["hostname FTDv-1"]}
    assert running_config.render(None).startswith("show running-config is not available")

