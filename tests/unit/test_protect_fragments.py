"""IKE fragmentation (RFC 7383 §2.5) and reassembly (§2.6)."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikev2d.crypto.errors import IntegrityError
from ikev2d.iana import PayloadType
from ikev2d.protect import FragmentReassembler, SkKeys, protect_fragments
from ikev2d.wire.errors import WireError
from ikev2d.wire.message import Message, decode_message
from ikev2d.wire.payloads import AUTH, CERT, SKF, IDr, Notify, Vendor

from test_protect_sk import CBC, GCM, SPI_I, SPI_R, SUITES, key_pair

# An IKE_AUTH response big enough to need fragments: ID, certificates, AUTH.
BIG = [IDr(2, b"vpn.example.com"), CERT(4, bytes(range(256)) * 6), CERT(4, b"\xc3" * 900),
       AUTH(1, b"\x5a" * 256), Notify(16384)]
IPV4_UDP = 28
NON_ESP = 4


def _fragments(keys: SkKeys, payloads: list = BIG, size: int = 576, overhead: int = IPV4_UDP + NON_ESP,
               mid: int = 1, response: bool = True) -> list[bytes]:
    return protect_fragments(SPI_I, SPI_R, 35, mid, payloads, keys, fragment_size=size, overhead=overhead,
                             is_response=response, is_initiator=not response)


def _expected(payloads: list = BIG, mid: int = 1, response: bool = True) -> Message:
    return Message(SPI_I, SPI_R, 35, mid, response, not response, payloads)


@pytest.mark.parametrize("suite", SUITES)
def test_small_message_is_one_sk_message(suite: str) -> None:
    """§2.5: only a message that does not fit is fragmented."""
    _, responder = key_pair(suite)
    [only] = _fragments(responder, [Notify(16384)])
    assert only[16] == PayloadType.SK


@pytest.mark.parametrize("suite", SUITES)
def test_fragments_start_exactly_where_the_message_stops_fitting(suite: str) -> None:
    """§2.5.1: a message that fits the fragment size goes whole; one octet
    less room and it is fragmented."""
    _, responder = key_pair(suite)
    [whole] = _fragments(responder, size=0)
    fits = len(whole) + IPV4_UDP
    assert _fragments(responder, size=fits, overhead=IPV4_UDP)[0][16] == PayloadType.SK
    assert _fragments(responder, size=fits - 1, overhead=IPV4_UDP)[0][16] == PayloadType.SKF


@pytest.mark.parametrize("suite", SUITES)
def test_fragmentation_off_gives_one_message(suite: str) -> None:
    """§2.3: without IKEV2_FRAGMENTATION_SUPPORTED from the peer, no SKF."""
    _, responder = key_pair(suite)
    [only] = _fragments(responder, size=0)
    assert only[16] == PayloadType.SK and len(only) > 576


@pytest.mark.parametrize("suite", SUITES)
def test_fragment_headers(suite: str) -> None:
    """§2.5: every fragment carries one SKF payload, numbered 1..N of N;
    only fragment 1 names the first inner payload; one Message ID."""
    _, responder = key_pair(suite)
    frags = _fragments(responder)
    assert len(frags) > 2
    skfs = [decode_message(f).get(SKF) for f in frags]
    assert [(s.fragment_number, s.total_fragments) for s in skfs] == [(n, len(frags)) for n in range(1, len(frags) + 1)]
    assert [s.inner_next_payload for s in skfs] == [PayloadType.IDr] + [0] * (len(frags) - 1)
    assert {decode_message(f).message_id for f in frags} == {1}


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUITES), st.integers(200, 1500), st.sampled_from([IPV4_UDP, IPV4_UDP + NON_ESP, 48, 52]))
def test_every_fragment_fits_fragment_size(suite: str, size: int, overhead: int) -> None:
    """§2.5.1: each IP datagram stays within the fragment size, and every
    fragment but the last is full: one more cipher block would not fit."""
    _, responder = key_pair(suite)
    frags = _fragments(responder, size=size, overhead=overhead)
    assert all(len(f) + overhead <= size for f in frags)
    assert all(len(f) + overhead + responder.encr.block_size > size for f in frags[:-1])


def test_gcm_fragment_aad_covers_the_skf_header() -> None:
    """RFC 7383 §2.5 with RFC 5282 §5.1: the AAD runs from the IKE header to
    the end of the SKF payload header (Fragment Number, Total Fragments)."""
    _, responder = key_pair(GCM)
    frag = _fragments(responder)[1]
    key, salt = responder.sk_e_out[:-4], responder.sk_e_out[-4:]
    padded = AESGCM(key).decrypt(salt + frag[36:44], frag[44:], frag[:36])
    assert padded[-1] == 0


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUITES), st.randoms(use_true_random=False), st.lists(st.integers(0, 20), max_size=8))
def test_reassembly_any_order_with_duplicates(suite: str, rnd, dup_picks: list[int]) -> None:
    """§2.6: fragments may arrive in any order and repeat; the message comes
    back once, when the last missing fragment arrives, and nothing stays held."""
    initiator, responder = key_pair(suite)
    order = _fragments(responder)
    rnd.shuffle(order)
    *early, last = order
    arrivals = early + [early[i % len(early)] for i in dup_picks]
    rnd.shuffle(arrivals)
    reasm = FragmentReassembler(initiator)
    assert [reasm.add(f, 0.0) for f in arrivals] == [None] * len(arrivals)
    assert reasm.add(last, 0.0) == _expected()
    assert reasm.pending == 0


@pytest.mark.parametrize("suite", SUITES)
def test_forged_fragment_is_integrity_error_and_changes_nothing(suite: str) -> None:
    """§2.6: each fragment is authenticated on arrival; a bad one is dropped."""
    initiator, responder = key_pair(suite)
    frags = _fragments(responder)
    reasm = FragmentReassembler(initiator)
    assert reasm.add(frags[0], 0.0) is None
    bad = bytearray(frags[1])
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        reasm.add(bytes(bad), 0.0)
    results = [reasm.add(f, 0.0) for f in frags[1:]]
    assert results[-1] == _expected()


def test_forged_larger_total_does_not_restart() -> None:
    """§2.6: only an authentic fragment may restart the collection."""
    initiator, responder = key_pair(CBC)
    frags = _fragments(responder)
    reasm = FragmentReassembler(initiator)
    reasm.add(frags[0], 0.0)
    forged = bytearray(frags[1])
    forged[34:36] = struct.pack("!H", len(frags) + 5)  # Total Fragments
    with pytest.raises(IntegrityError):
        reasm.add(bytes(forged), 0.0)
    assert [reasm.add(f, 0.0) for f in frags[1:]][-1] == _expected()


def test_larger_total_restarts_and_smaller_is_stale() -> None:
    """§2.6 (PMTU, §2.5.2): a fragment announcing more fragments than held
    means the peer re-fragmented smaller: start over with it; fragments of
    the older, coarser set are then discarded."""
    initiator, responder = key_pair(CBC)
    coarse = _fragments(responder, size=1280)
    fine = _fragments(responder, size=576)
    assert len(fine) > len(coarse) > 1
    reasm = FragmentReassembler(initiator)
    for f in coarse[:-1]:
        assert reasm.add(f, 0.0) is None
    assert reasm.add(fine[0], 1.0) is None
    assert reasm.add(coarse[-1], 1.0) is None
    assert reasm.last_drop is not None and "older" in reasm.last_drop
    assert [reasm.add(f, 1.0) for f in fine[1:]][-1] == _expected()


def test_too_many_fragments_is_dropped() -> None:
    """§2.6 leaves limits to the receiver: Total Fragments over the bound
    is discarded before any work is done."""
    initiator, responder = key_pair(CBC)
    frags = _fragments(responder, size=300)
    reasm = FragmentReassembler(initiator, max_fragments=len(frags) - 1)
    assert reasm.add(frags[0], 0.0) is None
    assert reasm.pending == 0 and "exceed" in (reasm.last_drop or "")


def test_too_many_octets_drops_the_collection() -> None:
    """A message whose fragments add up past max_bytes is abandoned."""
    initiator, responder = key_pair(CBC)
    frags = _fragments(responder)  # 447 plaintext octets per full fragment
    reasm = FragmentReassembler(initiator, max_bytes=1000)
    assert [reasm.add(f, 0.0) for f in frags[:2]] == [None, None]
    assert reasm.pending == 1 and reasm.last_drop is None
    assert reasm.add(frags[2], 0.0) is None
    assert reasm.pending == 0 and "exceed 1000" in (reasm.last_drop or "")


def test_timeout_forgets_a_partial_message() -> None:
    """Fragments of a message never completed are dropped after the timeout."""
    initiator, responder = key_pair(GCM)
    frags = _fragments(responder)
    reasm = FragmentReassembler(initiator, timeout=10.0)
    reasm.add(frags[0], 100.0)
    reasm.expire(109.0)
    assert reasm.pending == 1
    reasm.expire(110.5)
    assert reasm.pending == 0
    # what was held is gone: the rest alone no longer completes it
    assert [reasm.add(f, 111.0) for f in frags[1:]] == [None] * (len(frags) - 1)


def test_message_count_bound_evicts_the_oldest() -> None:
    initiator, responder = key_pair(CBC)
    reasm = FragmentReassembler(initiator, max_messages=2)
    for mid in (1, 2, 3):
        reasm.add(_fragments(responder, mid=mid)[0], float(mid))
    assert reasm.pending == 2
    late = _fragments(responder, mid=1)
    assert [reasm.add(f, 4.0) for f in late[1:]] == [None] * (len(late) - 1)


def test_request_and_response_with_one_message_id_stay_apart() -> None:
    """A request and a response may share a Message ID (RFC 7296 §2.2):
    their fragments are collected separately."""
    initiator, responder = key_pair(CBC)
    response = _fragments(responder, mid=4, response=True)
    request = _fragments(responder, mid=4, response=False)
    reasm = FragmentReassembler(initiator)
    interleaved = [f for pair in zip(response, request) for f in pair]
    results = [reasm.add(f, 0.0) for f in interleaved]
    assert [r for r in results if r is not None] == [_expected(mid=4, response=True), _expected(mid=4, response=False)]
    assert reasm.pending == 0


def test_our_own_fragments_do_not_open() -> None:
    """§2.14: fragments are opened with the peer's keys only."""
    initiator, _ = key_pair(CBC)
    with pytest.raises(IntegrityError):
        FragmentReassembler(initiator).add(_fragments(initiator)[0], 0.0)


def test_sk_message_is_not_a_fragment() -> None:
    initiator, responder = key_pair(CBC)
    [single] = _fragments(responder, [Vendor(b"x")])
    reasm = FragmentReassembler(initiator)
    assert reasm.add(single, 0.0) is None and reasm.last_drop == "not a fragment"


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUITES), st.data())
def test_mutated_fragments_raise_only_integrity_or_wire_errors(suite: str, data: st.DataObject) -> None:
    initiator, responder = key_pair(suite)
    frags = _fragments(responder)
    reasm = FragmentReassembler(initiator)
    for f in frags:
        raw = bytearray(f)
        if data.draw(st.booleans()):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] ^= data.draw(st.integers(1, 255))
        try:
            reasm.add(bytes(raw), 0.0)
        except (IntegrityError, WireError):
            pass
