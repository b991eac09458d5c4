"""The ladder of a session (issue 10, point 3): what an IKE SA keeps of its
messages, the terminal and HTML drawings, and the whitepaper's packet list."""

from __future__ import annotations

from pathlib import Path

from ikev2d.ladder import HISTORY, Step, packet_list, render_html, render_text

from responder_harness import Harness


def _steps(harness: Harness) -> list[Step]:
    [sa] = harness.responder.sas.values()
    return list(sa.history)


def test_an_ike_sa_keeps_each_message_of_its_session(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    steps = _steps(harness)
    flow = [(s.inbound, s.exchange, s.message_id, s.response) for s in steps]
    assert flow[:4] == [(True, 34, 0, False), (False, 34, 0, True), (True, 35, 1, False), (False, 35, 1, True)]
    assert all(a.at <= b.at for a, b in zip(steps, steps[1:]))
    assert steps[0].payloads.startswith("SA KE No N(NATD_S_IP)") and not steps[0].encrypted
    assert steps[2].payloads.startswith("IDi") and steps[2].encrypted
    assert steps[-1].payloads == "AUTH CPRP SA TSi TSr"
    assert steps[0].from_initiator and not steps[1].from_initiator
    # sessions share their payload lists: one string, not one per session
    other = harness.client(3)
    other.connect()
    a, b = (list(sa.history) for sa in harness.responder.sas.values())
    assert a[-1].payloads is b[-1].payloads


def test_the_history_is_bounded(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    for _ in range(HISTORY):
        client.liveness_check()
    steps = _steps(harness)
    assert len(steps) == HISTORY and steps[-1].exchange == 37


def test_the_ladder_follows_the_session_through_an_ike_rekey(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    client.rekey_ike()
    client.liveness_check()  # on the new IKE SA
    live = [sa for sa in harness.responder.sas.values() if sa.successor is None]
    [sa] = live
    names = [s.ike_sa for s in sa.history]
    assert len(set(names)) == 2 and names[-1] == sa.name
    assert "new IKE SA" in render_text(list(sa.history), "client", "ikev2d")


def test_the_terminal_ladder_draws_each_message_as_an_arrow(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    text = render_text(_steps(harness), "client 198.18.0.2:500", "ikev2d 198.18.0.1:500")
    arrows = [line for line in text.splitlines() if line.rstrip().endswith(">|") or "|<" in line]
    assert len(arrows) == len(_steps(harness))
    assert "IKE_AUTH request 1 SK{ IDi" in text and "IKE_SA_INIT response 0 [ SA KE No" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_the_packet_list_is_the_whitepapers_with_fragments(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    steps = _steps(harness)
    listing = packet_list(steps, "198.18.0.2", "198.18.0.1").splitlines()
    assert listing[0] == "No.\tTime\tSource\tDestination\tProtocol\tLength\tInfo"
    assert listing[1].endswith("ISAKMP\t" + str(steps[0].sizes[0] + 42) + "\tIKE_SA_INIT MID=00 Initiator Request")
    assert listing[2].split("\t")[6] == "IKE_SA_INIT MID=00 Responder Response"
    fragmented = [s for s in steps if len(s.sizes) > 1]
    assert fragmented, "the harness's IKE_AUTH answer with the certificate travels in fragments"
    rows = [r.split("\t")[6] for r in listing[1:]]
    total = len(fragmented[0].sizes)
    assert f"IKE_AUTH MID=01 Responder Response (Message fragment 1)" in rows
    assert f"IKE_AUTH MID=01 Responder Response (Reassembled + Message fragment {total} - last)" in rows
    assert len(listing) - 1 == sum(len(s.sizes) for s in steps)


def test_the_page_has_an_svg_ladder_and_the_packet_list(harness: Harness, tmp_path: Path) -> None:
    client = harness.client()
    client.connect()
    steps = _steps(harness)
    page = render_html(steps, "client <a>", "ikev2d", "Session 1: alice")
    assert page.startswith("<!DOCTYPE html>") and page.count("marker-end=") == len(steps)
    assert "client &lt;a&gt;" in page and "<a>" not in page  # escaped
    assert page.count("encrypted (SK)") == sum(1 for s in steps if s.encrypted)
    assert "IKE_SA_INIT MID=00 Initiator Request" in page


def test_steps_survive_json() -> None:
    step = Step(1.5, True, 35, 1, False, "IDi AUTH", (600, 500), "aa_i bb_r", True, 4500)
    assert Step.from_json(step.as_json()) == step
