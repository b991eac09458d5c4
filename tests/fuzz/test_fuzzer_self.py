"""The fuzzer itself: deterministic by seed, and able to find, shrink and
replay bugs of each kind its oracles look for (planted here)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import ikev2d.sa
from ikev2d.pool import AddressPool
from ikev2d.wire.payloads import Nonce
from lab.fuzz import framing
from lab.fuzz.campaign import fuzz
from lab.fuzz.payload_mutator import Dictionary, join_chain, mutate_plaintext, split_chain
from lab.fuzz.plan import Plan
from lab.fuzz.replay import run_plan
from lab.fuzz.shrink import shrink_bytes
from lab.fuzz.targets import TARGETS

pytestmark = pytest.mark.fuzz


def _session(target: str, n: int) -> Plan:
    seed = random.Random(f"self:{target}:{n}").getrandbits(63)
    config, steps = TARGETS[target].draw(random.Random(seed))
    return Plan(target, seed, config, steps)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_recorded_plan_replays_byte_for_byte(target: str) -> None:
    for n in range(3):
        plan = _session(target, n)
        _, first = run_plan(plan, TARGETS[target].chooser(random.Random(plan.seed + 1)))
        _, again = run_plan(Plan.from_json(plan.to_json()))
        assert first.inputs > 3
        assert again.transcript.hexdigest() == first.transcript.hexdigest()


def test_same_seed_same_sessions(tmp_path: Path) -> None:
    a = fuzz("plaintext", 5, sessions=20)
    b = fuzz("plaintext", 5, sessions=20)
    assert (a.inputs, a.mutated) == (b.inputs, b.mutated)


def test_a_planted_crash_is_found_shrunk_and_replayed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A CREATE_CHILD_SA with a nonce over 200 octets raises: the fuzzer must
    find it, shrink the plaintext to little more than that Nonce payload,
    and the reproducer must replay it."""
    real = ikev2d.sa.create_child_sa

    def planted(sa, message, now, effects):
        nonce = message.get(Nonce)
        if nonce is not None and len(nonce.data) > 200:
            raise KeyError("planted")
        return real(sa, message, now, effects)

    monkeypatch.setattr(ikev2d.sa, "create_child_sa", planted)
    stats = fuzz("plaintext", 1, sessions=400, out=tmp_path)
    crashes = [r for r in stats.findings if r.finding.kind == "crash"]
    assert crashes, stats.line()
    report = crashes[0]
    assert "KeyError@sa.py:_create_child_sa" in report.finding.signature
    last = report.plan.mutations[max(report.plan.mutations)]
    assert last.level == "plaintext"
    payloads = split_chain(last.first, bytes.fromhex(last.plaintext))
    assert payloads is not None and [p.type for p in payloads] == [40]  # only the Nonce is needed
    assert report.path is not None and report.path.exists()
    found, _ = run_plan(Plan.from_json(report.plan.to_json()))
    assert found is not None and found.signature == report.finding.signature


def test_a_planted_lease_leak_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AddressPool, "release", lambda self, address: True)
    stats = fuzz("sequence", 3, sessions=5)
    assert any(r.finding.kind in ("leak", "unbounded") and "lease" in r.finding.detail for r in stats.findings)


def test_a_planted_slow_input_is_confirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ikev2d.sa.create_child_sa

    def slow(sa, message, now, effects):
        end = time.process_time() + 0.08  # CPU, not wall time: what the oracle measures
        while time.process_time() < end:
            pass
        return real(sa, message, now, effects)

    monkeypatch.setattr(ikev2d.sa, "create_child_sa", slow)
    stats = fuzz("sequence", 3, sessions=5)
    assert any(r.finding.kind == "slow" for r in stats.findings), stats.line()


def test_payload_mutations_keep_lengths_right_unless_they_lie() -> None:
    rng = random.Random(3)
    first, data = join_chain(split_chain(40, bytes([0, 0, 0, 36]) + bytes(32)) or [])
    words = Dictionary([b"\x00\x00\x01\x00"], [], [])
    parsed = sum(split_chain(*mutate_plaintext(first, data, rng, words)) is not None for _ in range(300))
    assert 150 < parsed < 300  # mostly well framed, so the tasks see them; some length lies


def test_framing_without_faults_is_what_the_responder_accepts() -> None:
    from ikev2d.crypto.transforms import get_encr, get_integ
    from ikev2d.protect import FragmentReassembler, SkKeys, unprotect_message

    encr, integ = get_encr(12, 256), get_integ(14)
    keys = SkKeys(encr, integ, b"a" * 32, b"b" * 64, b"c" * 32, b"d" * 64)
    peer = SkKeys(encr, integ, b"c" * 32, b"d" * 64, b"a" * 32, b"b" * 64)
    route = framing.Route(bytes(range(8)), bytes(range(8, 16)), 35, 0x08, 1)
    plaintext = bytes([0, 0, 0, 36]) + bytes(32)
    whole = framing.build(route, plaintext, keys, framing.Framing([framing.Fragment(0, 36, 0, 0, 40)]),
                          random.Random(1).randbytes)
    assert [type(p).__name__ for p in unprotect_message(whole[0], peer).payloads] == ["Nonce"]
    pieces = framing.Framing([framing.Fragment(0, 10, 1, 2, 40), framing.Fragment(10, 36, 2, 2, 0)])
    reassembler = FragmentReassembler(peer)
    out = [reassembler.add(d, 0.0) for d in framing.build(route, plaintext, keys, pieces, random.Random(1).randbytes)]
    assert out[0] is None and out[1] is not None and len(out[1].payloads) == 1


def test_shrink_bytes_finds_the_minimal_input() -> None:
    assert shrink_bytes(b"xxxxAxxxxBxxxx", lambda d: b"A" in d and b"B" in d) == b"AB"


def test_a_planted_unauthenticated_reflection_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug d8d30b2 fixed, put back: any datagram with the last answered
    message ID gets the cached answer, authentic or not."""
    monkeypatch.setattr(ikev2d.sa.IkeSa, "_retransmit",
                        lambda self, raw, header, local, remote: self._send_cached(local, remote))
    stats = fuzz("datagram", 2, sessions=150)
    assert any(r.finding.kind == "unauthenticated-answer" for r in stats.findings), stats.line()


def test_fragment_numbers_past_16_bits_wrap_instead_of_stopping_the_run() -> None:
    """A fault raised Total Fragments 0xFFFF by one: struct refused it and a
    30-minute run died (seed 7, 25 min in). The wire field wraps."""
    from ikev2d.crypto.transforms import get_encr, get_integ
    from ikev2d.protect import SkKeys

    keys = SkKeys(get_encr(12, 256), get_integ(14), b"a" * 32, b"b" * 64, b"c" * 32, b"d" * 64)
    route = framing.Route(bytes(range(8)), bytes(range(8, 16)), 35, 0x08, 1)
    spec = framing.Framing([framing.Fragment(0, 4, 1, 0x10000, 41)])
    (datagram,) = framing.build(route, bytes(4), keys, spec, random.Random(1).randbytes)
    assert datagram[32:36] == bytes([0, 1, 0, 0])
