"""Teaching scenarios: one command runs one IKEv2 story in the lab and
leaves everything a teacher shows about it in one folder.

    bash lab/explain good            # connect, ping, disconnect
    bash lab/explain wrong-password  # EAP-MSCHAPv2 refused: AUTHENTICATION_FAILED
    bash lab/explain wrong-proposal  # a 128-bit client: NO_PROPOSAL_CHOSEN
    bash lab/explain nat             # the client behind NAT: NAT-D, the move to UDP 4500
    bash lab/explain fragmentation   # IKE_AUTH in RFC 7383 fragments (576-octet datagrams)
    bash lab/explain rekey           # CREATE_CHILD_SA: a Child SA rekey, then an IKE SA rekey
    bash lab/explain dpd             # the client vanishes: liveness checks, then the SA is deleted
    bash lab/explain all             # each of them

Each run builds the lab (gateway 198.18.0.1, client 198.18.0.2, in network
namespaces), starts ikev2d with the whitepaper's configuration and a
strongSwan client, and writes into `.lab/explain/SCENARIO/`:

    capture.pcap      the exchange as tcpdump saw it on the gateway
    keys/             ikev2_decryption_table and esp_sa: Wireshark decrypts the capture with them
    trace.json        `ikev2d debug crypto ikev2 protocol 127 platform 127`, one JSON object a record
    trace.txt         the same in the FTD's debug layout
    ladder.txt        the exchanges as a ladder; ladder.html the same as a page to project
    packets.txt       the packet list, as the whitepaper shows Wireshark's
    decrypted.txt     tshark's packet list of the capture, decrypted with the keys
    ikev2d.log        the FTD syslog lines and ikev2d's log
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ikev2d.ladder import packet_list, render_html, render_text, steps_of
from ikev2d.trace.render import render

from lab import wireshark
from lab.capture import Capture
from lab.ikev2d import REPO, Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Namespace, Topology, cleanup_stale, run_prefix
from lab.pki import make_lab_pki
from lab.preflight import lab_missing
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig

INSIDE = "198.19.0.1"
GATEWAY = "198.18.0.1"


@dataclass
class Scenario:
    name: str
    what: str  # one sentence for the teacher
    look_at: str  # where the story is in the files
    server: dict[str, Any] = field(default_factory=dict)  # Ikev2dKnobs
    client: dict[str, Any] = field(default_factory=dict)  # ClientConfig options
    expect_connect: bool = True
    before: Callable[[Namespace, Path], None] | None = None  # before the connect (the NAT)
    after: Callable[[Charon, Ikev2d], None] | None = None  # once connected (rekeys, the vanishing)


def _masquerade(ns: Namespace, folder: Path) -> None:
    """A NAT in the client's namespace: its IKE leaves from other ports."""
    rules = folder / "nat.nft"
    rules.write_text("flush ruleset\nadd table ip nat\n"
                     "add chain ip nat post { type nat hook postrouting priority 100 ; }\n"
                     f"add rule ip nat post ip daddr {GATEWAY} udp sport 500 masquerade to :41500\n"
                     f"add rule ip nat post ip daddr {GATEWAY} udp sport 4500 masquerade to :44500\n")
    ns.run(["nft", "-f", str(rules)])


def _rekey(client: Charon, server: Ikev2d) -> None:
    client.swanctl("--rekey", "--child", "ftd-ra")
    time.sleep(1.5)
    client.swanctl("--rekey", "--ike", "ftd-ra")
    time.sleep(1.5)
    _ping(client.ns)


def _vanish(client: Charon, server: Ikev2d) -> None:
    """The client drops everything (a laptop lid shut): ikev2d's liveness
    checks go unanswered, retransmitted (RFC 7296 §2.4), then it gives up."""
    rules = client.folder / "lid.nft"
    rules.write_text("flush ruleset\nadd table inet lid\n"
                     "add chain inet lid in { type filter hook input priority 0 ; policy drop ; }\n"
                     "add chain inet lid out { type filter hook output priority 0 ; policy drop ; }\n")
    client.ns.run(["nft", "-f", str(rules)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "IKEv2 SA DOWN" not in server.log():
        time.sleep(1)


SCENARIOS = {s.name: s for s in (
    Scenario("good", "alice connects with EAP-MSCHAPv2, gets 198.19.0.200, pings the inside and leaves.",
             "ladder.txt: IKE_SA_INIT, five IKE_AUTH round trips (EAP inside), the Delete; decrypted.txt: "
             "the EAP and the pings inside ESP"),
    Scenario("wrong-password", "alice types the wrong password.",
             "trace.txt: the EAP-MSCHAPv2 Response, then IKEv2-PROTO-1 'authentication failed: wrong "
             "password' and N(AUTHENTICATION_FAILED) in the last answer",
             client={"password": "not-alices-password"}, expect_connect=False),
    Scenario("wrong-proposal", "A client that offers AES-128/SHA-256/group 14, which the NSA policy refuses.",
             "trace.txt: the client's SA payload, then IKEv2-PROTO-1 'IKE_SA_INIT refused with "
             "NO_PROPOSAL_CHOSEN' naming the offer beside what is configured",
             client={"proposals": "aes128-sha256-modp2048"}, expect_connect=False),
    Scenario("nat", "alice sits behind a NAT that changes her source ports.",
             "trace.txt: the NAT_DETECTION notifies of IKE_SA_INIT; packets.txt: IKE_AUTH on UDP 4500 with "
             "the non-ESP marker; decrypted.txt: ESP in UDP",
             before=_masquerade),
    Scenario("fragmentation", "The IKE_AUTH messages do not fit 576-octet datagrams: RFC 7383 fragments.",
             "packets.txt: 'Message fragment 1', '(Reassembled + Message fragment N - last)' as in the "
             "whitepaper; trace.txt: the reassembled message",
             server={"fragment_size": 576}, client={"fragment_size": 576}),
    Scenario("rekey", "alice's client rekeys its Child SA, then its IKE SA (CREATE_CHILD_SA).",
             "ladder.txt: CREATE_CHILD_SA with N(REKEY_SA), the old pair's Delete, then the IKE rekey "
             "[ SA No KE ] and 'new IKE SA'; keys/: every generation, so all of it decrypts",
             after=_rekey),
    Scenario("dpd", "alice's laptop goes silent: ikev2d checks liveness and deletes the SA.",
             "trace.txt: empty INFORMATIONAL requests of ours retransmitted (IKEv2-PROTO-6), then the SA "
             "DELETED; ikev2d.log: 113019 with the reason",
             server={"edit": lambda cfg: cfg["remote_access_vpn"].setdefault("ikev2_parameters", {})
                     .update({"dpd_interval_seconds": 3})},
             client={"dpd_delay": 0}, after=_vanish),
)}


def _ping(ns: Namespace) -> str:
    done = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", INSIDE], check=False, timeout=15)
    return done.stdout + done.stderr


def run(scenario: Scenario, folder: Path) -> bool:
    """Run one scenario; True when it went as the story says."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    pki = make_lab_pki(folder / "pki")
    topo = Topology(run_prefix("explain"), 1)
    server: Ikev2d | None = None
    client: Charon | None = None
    capture: Capture | None = None
    went_as_told = False
    try:
        topo.create()
        cfg = lab_config(pki, store=folder / "pki-store", knobs=Ikev2dKnobs(**scenario.server))
        cfg["logging"]["debug_trace"] = {"file": str(folder / "trace.json"), "protocol": 127, "platform": 127}
        server = Ikev2d(topo.gateway, folder / "ikev2d", cfg, extra_args=["--keylog", str(folder / "keys")])
        server.start()
        capture = Capture(topo.gateway, folder / "capture.pcap").start()
        if scenario.before is not None:
            scenario.before(topo.clients[0], folder)
        client = Charon(topo.clients[0], folder / "client", fragment_size=scenario.client.get("fragment_size", 1280))
        client.start()
        options = {k: v for k, v in scenario.client.items() if k != "fragment_size"}
        client.load(ClientConfig(local_addr=topo.client_addrs[0], ca_cert=pki.ca_cert, **options))
        connected = client.initiate(timeout=15).ok
        went_as_told = connected == scenario.expect_connect
        if connected:
            pinged = _ping(topo.clients[0])
            went_as_told = went_as_told and " 0% packet loss" in pinged
            if scenario.after is not None:
                scenario.after(client, server)
            if client.list_sas():
                client.terminate()
        time.sleep(1)  # the last answers reach the capture and the trace
    finally:
        if client is not None:
            client.stop()
        if capture is not None:
            capture.stop()
        if server is not None:
            server.stop()
            shutil.copy(server.log_path, folder / "ikev2d.log")
        topo.destroy()
    _write_views(folder)
    return went_as_told


def _write_views(folder: Path) -> None:
    """The trace as text, the ladder and packet list, tshark's decryption."""
    trace = folder / "trace.json"
    records = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    (folder / "trace.txt").write_text("".join(f"{line}\n" for r in records for line in render(r, 127)))
    steps = steps_of(records)
    client, server = "client 198.18.0.2", f"ikev2d {GATEWAY}"
    (folder / "ladder.txt").write_text(render_text(steps, client, server))
    (folder / "ladder.html").write_text(render_html(steps, client, server, f"ikev2d lab: {folder.name}"))
    (folder / "packets.txt").write_text(packet_list(steps, "198.18.0.2", GATEWAY))
    try:
        (folder / "decrypted.txt").write_text(wireshark.summary(folder / "capture.pcap", folder / "keys"))
    except (OSError, subprocess.SubprocessError) as exc:
        (folder / "decrypted.txt").write_text(f"tshark could not read the capture: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash lab/explain", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--out", type=Path, default=REPO / ".lab" / "explain", help="where the folders go")
    args = parser.parse_args(argv)
    missing = lab_missing()
    if missing:
        print(f"cannot run the lab: {missing}", file=sys.stderr)
        return 2
    cleanup_stale()
    chosen = list(SCENARIOS.values()) if args.scenario == "all" else [SCENARIOS[args.scenario]]
    failed = 0
    for scenario in chosen:
        folder = args.out / scenario.name
        print(f"=== {scenario.name}: {scenario.what}", flush=True)
        ok = run(scenario, folder)
        failed += not ok
        print((folder / "ladder.txt").read_text())
        print(f"look at: {scenario.look_at}")
        print(f"files: {folder}/ ({'as the story says' if ok else 'NOT as the story says: see ikev2d.log'})\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
