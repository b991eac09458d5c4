"""The debug trace (issue 10, point 1): its JSON schema, the records of a
whole in-process connect at each level, the filters, the FTD-shaped text,
and that no key or password reaches a record at any level."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from ikev2d.commands.debug import parse
from ikev2d.core import Responder
from ikev2d.effects import Emit, InstallChildSa
from ikev2d.iana import AuthMethod, DhId, EapCode, EapType, ExchangeType
from ikev2d.settings import build_settings
from ikev2d.trace.decode import message_fields
from ikev2d.trace.hub import Filter, Listener, TraceHub
from ikev2d.trace.messages import TraceContext, message_record
from ikev2d.trace.record import PLATFORM, PROTOCOL, SCHEMA
from ikev2d.trace.render import render
from ikev2d.wire.message import Message
from ikev2d.wire.payloads import AUTH, EAP, KE, Nonce

from responder_harness import Harness, make_config

JSON_KEYS = {"schema", "time", "facility", "level", "event", "sa", "sa_id", "peer", "local", "user", "text", "data"}
MESSAGE_KEYS = {"exchange", "message_id", "response", "initiator", "ispi", "rspi", "payloads", "direction",
                "datagrams", "octets"}
CTX = TraceContext("aa_i bb_r", 7, ("198.18.0.2", 4500), ("198.18.0.1", 4500), "alice")


def _connect(tmp_path: Path, pki_dir: Path, levels: dict[str, int], where: Filter | None = None,
             password: str | None = None) -> tuple[list[dict[str, Any]], Harness]:
    """One connect and disconnect with a listener at `levels`: its records."""
    lines: list[dict[str, Any]] = []
    tmp_path.mkdir(exist_ok=True)
    h = Harness(Responder(build_settings(make_config(tmp_path, **{f"store: {tmp_path / 'pki'}":
                                                                   f"store: {pki_dir}"}))))
    hub = TraceHub(h.responder.tracer, clock=lambda: 1.0)
    hub.add(Listener(levels, where or Filter(), sink=lines.append))
    options = {} if password is None else {"password": password}
    client = h.client(**options)
    try:
        client.connect()
        client.delete()
    except Exception:
        pass  # a refused client: its records are the point
    hub.publish(h.responder.tracer.drain())
    for effect in h.effects:  # as the adapter's perform() does
        hub.effect(effect)
        if isinstance(effect, Emit):
            hub.event(effect.event)
    return lines, h


def test_the_json_schema_is_stable(tmp_path: Path, pki_dir: Path) -> None:
    lines, _ = _connect(tmp_path, pki_dir, {PROTOCOL: 127, PLATFORM: 127})
    assert lines and all(set(line) == JSON_KEYS and line["schema"] == SCHEMA for line in lines)
    messages = [line for line in lines if line["event"] == "message"]
    assert all(set(m["data"]) == MESSAGE_KEYS for m in messages)
    assert all(isinstance(p["type"], str) for m in messages for p in m["data"]["payloads"])
    json.dumps(lines)  # every value is plain JSON


def test_a_connect_is_traced_message_by_message_in_order(tmp_path: Path, pki_dir: Path) -> None:
    lines, _ = _connect(tmp_path, pki_dir, {PROTOCOL: 127, PLATFORM: 127})
    flow = [(m["data"]["direction"], m["data"]["exchange"], m["data"]["message_id"])
            for m in lines if m["event"] == "message"]
    assert flow[:4] == [("in", "IKE_SA_INIT", 0), ("out", "IKE_SA_INIT", 0), ("in", "IKE_AUTH", 1),
                        ("out", "IKE_AUTH", 1)]
    assert flow[-2:] == [("in", "INFORMATIONAL", flow[-1][2]), ("out", "INFORMATIONAL", flow[-1][2])]
    assert [line["data"]["to"] for line in lines if line["event"] == "state"] == ["ESTABLISHED", "DELETED"]
    assert [line["data"]["action"] for line in lines if line["facility"] == PLATFORM] == ["install", "remove"]


@pytest.mark.parametrize(("protocol", "events"), [(1, set()), (2, {"message"}), (3, {"message", "event"}),
                                                  (5, {"message", "event", "state"})])
def test_a_level_shows_its_records_and_those_below(tmp_path: Path, pki_dir: Path, protocol: int,
                                                    events: set[str]) -> None:
    lines, _ = _connect(tmp_path, pki_dir, {PROTOCOL: protocol})
    assert {line["event"] for line in lines} == events


def test_level_one_shows_the_refusal_and_its_reason(tmp_path: Path, pki_dir: Path) -> None:
    lines, _ = _connect(tmp_path, pki_dir, {PROTOCOL: 1}, password="not-the-password")
    assert {line["data"]["kind"] for line in lines} == {"AuthFailed", "NegotiationAborted"}
    assert all(line["level"] == 1 and line["data"]["failure"] for line in lines)
    assert "wrong password" in lines[0]["text"] and "not-the-password" not in json.dumps(lines)


def test_the_peer_and_user_filters(tmp_path: Path, pki_dir: Path) -> None:
    other, _ = _connect(tmp_path / "a", pki_dir, {PROTOCOL: 127}, Filter(peer="198.18.0.99"))
    assert other == []
    ours, _ = _connect(tmp_path / "b", pki_dir, {PROTOCOL: 127}, Filter(peer="198.18.0.2"))
    assert ours
    alice, _ = _connect(tmp_path / "c", pki_dir, {PROTOCOL: 127}, Filter(user="alice"))
    # from the first message naming alice (IDi in IKE_AUTH) to the SA's end; IKE_SA_INIT is before that
    assert alice[0]["data"]["exchange"] == "IKE_AUTH" and alice[-1]["event"] in ("state", "event", "message")
    assert not [line for line in alice if line.get("data", {}).get("exchange") == "IKE_SA_INIT"]
    nobody, _ = _connect(tmp_path / "d", pki_dir, {PROTOCOL: 127}, Filter(user="bob"))
    assert nobody == []


def test_text_is_shaped_like_the_ftds_debug_and_payloads_appear_from_level_4(tmp_path: Path,
                                                                           pki_dir: Path) -> None:
    lines, _ = _connect(tmp_path, pki_dir, {PROTOCOL: 127})
    auth = next(line for line in lines if line["event"] == "message" and line["data"]["exchange"] == "IKE_AUTH")
    brief, full = render(auth, 2), render(auth, 4)
    assert brief[0] == (f"IKEv2-PROTO-2: ({auth['sa_id']}): Received Packet [From {auth['peer']}/"
                        f"To {auth['local']}/VRF i0:f0]")
    assert brief[1] == (f"Initiator SPI : {auth['data']['ispi'].upper()} - Responder SPI : "
                        f"{auth['data']['rspi'].upper()} Message id: 1")
    assert brief[2] == "IKEv2 IKE_AUTH Exchange REQUEST, length: " + str(auth["data"]["octets"])
    assert "Payload contents:" not in brief and "Payload contents:" in full
    assert any(line.lstrip().startswith("IDi") for line in full)


def test_the_cli_reads_the_ftd_words() -> None:
    assert parse(["crypto", "ikev2", "protocol"]) == {PROTOCOL: 1}
    assert parse(["crypto", "ikev2", "protocol", "127", "platform", "4"]) == {PROTOCOL: 127, PLATFORM: 4}
    assert parse(["Crypto", "IKEv2", "platform"]) == {PLATFORM: 1}
    for bad in (["crypto", "ikev2"], ["crypto", "ikev1", "protocol"], ["crypto", "ikev2", "protocol", "256"],
                ["crypto", "ikev2", "protocol", "1", "protocol"]):
        with pytest.raises(ValueError):
            parse(bad)


# -- no secret, at any level ---------------------------------------------------------

SECRET = st.binary(min_size=16, max_size=64).filter(lambda b: len(set(b)) > 4)


def _eap(code: int, kind: int, body: bytes) -> EAP:
    data = bytes([code, 9]) + (5 + len(body)).to_bytes(2, "big") + bytes([kind]) + body
    return EAP(data)


@settings(max_examples=150, deadline=None)
@given(secret=SECRET)
def test_no_secret_reaches_a_record_or_its_text(secret: bytes) -> None:
    """The secret goes into every field a key, a DH value or a password
    could travel in; neither its hex nor its text may come out."""
    payloads = [
        AUTH(AuthMethod.SHARED_KEY_MIC, secret), KE(DhId.MODP_3072, secret), Nonce(secret),
        _eap(EapCode.RESPONSE, EapType.MD5_CHALLENGE, bytes([len(secret)]) + secret),
        _eap(EapCode.RESPONSE, EapType.GTC, secret),
        # MS-CHAPv2 Response: OpCode 2, MS-CHAPv2-ID, MS-Length, Value-Size 49, Peer-Challenge(16),
        # Reserved(8), NT-Response(24), Flags(1), then the Name
        _eap(EapCode.RESPONSE, EapType.MSCHAPV2, bytes([2, 9, 0, 0, 49]) + (secret * 4)[:49] + b"alice"),
    ]
    message = Message(b"\x01" * 8, b"\x02" * 8, ExchangeType.IKE_AUTH, 3, False, True, payloads)
    record = message_record(True, message, CTX, 1, 300).as_json(1.0)
    text = json.dumps(record) + "\n".join(render(record, 255))
    for needle in (secret.hex(), secret.decode("latin-1")):
        for piece in (needle[i:i + 16] for i in range(0, max(1, len(needle) - 15), 8)):
            assert piece not in text
    assert "alice" in text  # the Name is an identity, shown


def test_no_sa_key_reaches_the_trace_of_a_real_connect(tmp_path: Path, pki_dir: Path) -> None:
    lines, h = _connect(tmp_path, pki_dir, {PROTOCOL: 255, PLATFORM: 255})
    text = json.dumps(lines) + "".join("\n".join(render(line, 255)) for line in lines)
    keys = []
    for sa in h.responder.sas.values():
        keys += [getattr(sa.keys, f).hex() for f in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr")]
    for e in h.effects:
        if isinstance(e, InstallChildSa):
            keys += [k.hex() for k in (e.spec.encr_key_in, e.spec.encr_key_out, e.spec.integ_key_in,
                                       e.spec.integ_key_out)]
    assert keys and not [k for k in keys if k and k in text]


def test_message_fields_never_raise_on_odd_payloads() -> None:
    odd = [_eap(EapCode.RESPONSE, EapType.MSCHAPV2, b""), EAP(b"\x02"), _eap(EapCode.REQUEST, 254, b"\xff" * 3)]
    fields = message_fields(Message(b"\x01" * 8, b"\x02" * 8, 99, 0, True, False, odd))
    assert fields["exchange"] == "99" and len(fields["payloads"]) == 3


def test_a_slow_listener_loses_records_not_memory() -> None:
    async def scenario() -> int:
        from ikev2d.trace.tracer import Tracer
        from ikev2d.trace.hub import QUEUE_RECORDS
        hub = TraceHub(Tracer())
        listener = Listener({PROTOCOL: 127}, Filter())
        hub.add(listener)
        record = message_record(True, Message(b"\x01" * 8, b"\x02" * 8, 34, 0, False, True, []), CTX)
        hub.publish([record] * (QUEUE_RECORDS + 5))
        assert listener.queue.qsize() == QUEUE_RECORDS
        return listener.lost
    assert asyncio.run(scenario()) == 5


# -- the trace file of the configuration ---------------------------------------------

def _with_trace(tmp_path: Path, pki_dir: Path, trace_yaml: str):
    return make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                    "  console: true": "  console: true\n" + trace_yaml})


def test_the_trace_file_is_configured_and_written_in_either_format(tmp_path: Path, pki_dir: Path) -> None:
    from ikev2d.trace.hub import trace_file_listener
    config = _with_trace(tmp_path, pki_dir, "  debug_trace:\n    file: t.log\n    protocol: 4\n    format: text\n")
    trace = config.logging.debug_trace
    assert trace is not None and (trace.file, trace.protocol, trace.platform, trace.format) == \
        (tmp_path / "t.log", 4, 127, "text")
    record = message_record(True, Message(b"\x01" * 8, b"\x02" * 8, 34, 0, False, True, [Nonce(b"n" * 32)]), CTX)
    for form in ("text", "json"):
        listener, sink = trace_file_listener(tmp_path / f"{form}.log", {PROTOCOL: 4}, form)
        listener.push(record.as_json(1.0))
        sink.close()
        written = (tmp_path / f"{form}.log").read_text()
        assert ("Payload contents:" in written) if form == "text" else (json.loads(written)["schema"] == SCHEMA)


@pytest.mark.parametrize(("trace_yaml", "problem"), [
    ("  debug_trace:\n    protocol: 4\n", "debug_trace: 'file' is required"),
    ("  debug_trace:\n    file: t.log\n    protocol: 300\n", "300"),
    ("  debug_trace:\n    file: t.log\n    format: xml\n", "xml"),
])
def test_a_bad_trace_setting_is_a_config_error_naming_the_line(tmp_path: Path, pki_dir: Path, trace_yaml: str,
                                                               problem: str) -> None:
    from ikev2d.conf import ConfigError
    with pytest.raises(ConfigError) as caught:
        _with_trace(tmp_path, pki_dir, trace_yaml)
    assert problem.split(":")[0] in str(caught.value) and "ikev2d.yaml:" in str(caught.value)


def test_check_config_refuses_a_trace_file_it_cannot_write(tmp_path: Path, pki_dir: Path) -> None:
    from ikev2d.conf.locate import SourceMap
    from ikev2d.preflight import preflight
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "t.log").mkdir()  # a folder where the file should be
    config = _with_trace(tmp_path, pki_dir, "  debug_trace:\n    file: ro/t.log\n")
    checks = [c for c in preflight(config, SourceMap.of_file(tmp_path / "ikev2d.yaml")) if c.subject == "logging"]
    assert len(checks) == 1 and "cannot be written" in checks[0].problem and "debug_trace" in checks[0].fix
