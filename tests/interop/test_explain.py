"""The teaching lab (issue 10, point 5): each scenario runs with one
command and leaves the capture, the keys, the trace and the ladder, and
each shows what its description tells the teacher to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import explain, wireshark

pytestmark = [pytest.mark.interop, pytest.mark.timeout(150),
              pytest.mark.skipif(not wireshark.tshark_available(), reason="tshark is not installed (lab/setup.sh)")]

# what each scenario's files must show (the `look_at` promises)
SHOWS = {
    "good": {"ladder.txt": ["IKE_AUTH request 5 SK{ AUTH }", "INFORMATIONAL request"],
             "decrypted.txt": ["EAP", "Echo (ping) request"]},
    "wrong-password": {"trace.txt": ["IKEv2-PROTO-1", "authentication failed: wrong password"],
                       "ladder.txt": ["N(AUTH_FAILED)"]},
    "wrong-proposal": {"trace.txt": ["IKEv2-PROTO-1", "NO_PROPOSAL_CHOSEN", "offered"],
                       "ladder.txt": ["IKE_SA_INIT response 0 [ N(NO_PROP) ]"]},
    "nat": {"trace.txt": ["NAT_DETECTION_SOURCE_IP", "From 198.18.0.2:44500/To 198.18.0.1:4500"],
            "decrypted.txt": ["Echo (ping) reply"]},
    "fragmentation": {"packets.txt": ["(Message fragment 1)", "(Reassembled + Message fragment"]},
    "rekey": {"ladder.txt": ["CREATE_CHILD_SA request", "N(REKEY_SA)", "new IKE SA"],
              "decrypted.txt": ["CREATE_CHILD_SA"]},
    "dpd": {"trace.txt": ["retransmit 1 of INFORMATIONAL request", "IKE SA state ESTABLISHED -> DELETED"],
            "ikev2d.log": ["113019"]},
}


@pytest.mark.parametrize("name", list(explain.SCENARIOS))
def test_each_scenario_leaves_its_story(name: str, tmp_path: Path) -> None:
    folder = tmp_path / name
    assert explain.run(explain.SCENARIOS[name], folder), (folder / "ikev2d.log").read_text()[-3000:]
    for kept in ("capture.pcap", "trace.json", "trace.txt", "ladder.txt", "ladder.html", "packets.txt",
                 "decrypted.txt", "ikev2d.log"):
        assert (folder / kept).stat().st_size > 0, kept
    # every IKE SA made has its keys (a refused IKE_SA_INIT makes none)
    assert (folder / "keys" / "ikev2_decryption_table").exists() == (name != "wrong-proposal")
    for file, needles in SHOWS[name].items():
        text = (folder / file).read_text()
        missing = [n for n in needles if n not in text]
        assert not missing, f"{file} lacks {missing}:\n{text[-2500:]}"


def test_every_scenario_has_its_expectations() -> None:
    assert set(SHOWS) == set(explain.SCENARIOS)
