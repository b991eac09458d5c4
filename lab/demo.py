"""The README's first command: a strongSwan client connects to ikev2d.

Builds the lab (a gateway namespace at 198.18.0.1 and one client at
198.18.0.2), starts ``ikev2d run`` on config/ikev2d.yaml with the lab PKI's
server certificate as the identity certificate (and VPN logging at
informational, as the whitepaper sets it), connects strongSwan as alice with
EAP-MSCHAPv2, prints what strongSwan reports and what ikev2d logged,
disconnects and removes everything.  Exit status 0 only if the connect
succeeded.

    python -m lab.demo                       # against ikev2d
    python -m lab.demo --responder strongswan  # against strongSwan's own responder
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from lab import wireshark
from lab.capture import Capture
from lab.ikev2d import REPO, Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Topology, cleanup_stale, run_prefix
from lab.pki import LabPki, make_lab_pki
from lab.preflight import lab_missing
from lab.strongswan import Charon, IkeSa
from lab.swanctl_conf import ClientConfig, ResponderConfig


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)), flush=True)


def describe(sa: IkeSa) -> str:
    lines = [
        f"IKE SA {sa.name}[{sa.uniqueid}] {sa.state}",
        f"  {sa.local_host}:{sa.local_port} [{sa.local_id}]  <->  "
        f"{sa.remote_host}:{sa.remote_port} [{sa.remote_id}]",
        f"  IKE proposal: {sa.proposal}",
        f"  virtual IP:   {', '.join(sa.local_vips) or '(none)'}",
    ]
    for c in sa.children:
        encap = "in UDP" if c.encap else "plain"
        lines += [
            f"  CHILD SA {c.name} {c.state}: {c.protocol} {encap}, {c.proposal}",
            f"    SPI in {c.spi_in} out {c.spi_out}",
            f"    {', '.join(c.local_ts)} === {', '.join(c.remote_ts)}",
        ]
    return "\n".join(lines)


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(responder: str, folder: Path) -> int:
    pki: LabPki = make_lab_pki(folder / "pki")
    topo = Topology(run_prefix("demo"), 1)
    server: Ikev2d | Charon | None = None
    client: Charon | None = None
    capture: Capture | None = None
    ok = False
    try:
        topo.create()
        _section(f"lab: gateway {topo.gateway.name} {topo.gateway_addr}, client {topo.clients[0].name} {topo.client_addrs[0]}")
        if responder == "ikev2d":
            cfg = lab_config(pki, store=folder / "pki-store", knobs=Ikev2dKnobs())
            # the exchange captured next to the keys ikev2d exports, for Wireshark
            server = Ikev2d(topo.gateway, folder / "ikev2d", cfg, extra_args=["--keylog", str(folder / "keys")])
            print(f"starting: ip netns exec {topo.gateway.name} {' '.join(server.argv())}")
            server.start()
            capture = Capture(topo.gateway, folder / "demo.pcap").start()
        else:
            server = Charon(topo.gateway, folder / "responder")
            print("starting strongSwan's reference responder (charon) in the gateway namespace")
            server.start()
            server.load(ResponderConfig(server_cert=pki.server_cert, server_key=pki.server_key))

        client = Charon(topo.clients[0], folder / "client")
        client.start()
        client.load(ClientConfig(local_addr=topo.client_addrs[0], ca_cert=pki.ca_cert))
        _section("strongSwan client: swanctl --initiate --child ftd-ra --ike ftd-ra (as alice, EAP-MSCHAPv2)")
        result = client.initiate(timeout=15)
        for line in result.log:
            print(f"  {line}")
        sas = client.list_sas()
        ok = result.ok and any(sa.state == "ESTABLISHED" for sa in sas)

        _section("what strongSwan reports (VICI list-sas)")
        print("\n".join(describe(sa) for sa in sas) or "no IKE SA")
        _section("swanctl --list-sas")
        print(client.swanctl("--list-sas").rstrip())

        if ok:
            _section("through the tunnel: ping -c 3 198.19.0.1 (the gateway's inside address)")
            pinged = topo.clients[0].run(["ping", "-c", "3", "-i", "0.2", "-W", "2", "198.19.0.1"],
                                         check=False, timeout=15)
            print((pinged.stdout + pinged.stderr).rstrip())
            ok = pinged.returncode == 0
        if ok and isinstance(server, Ikev2d):
            for words in (("crypto", "ikev2", "sa"), ("crypto", "ipsec", "sa"), ("vpn-sessiondb", "ra-ikev2-ipsec")):
                _section("ikev2d show " + " ".join(words))
                shown = server.show(*words)
                print((shown.stdout + shown.stderr).rstrip())
        if sas:
            _section("disconnect: swanctl --terminate --ike ftd-ra")
            term = client.terminate()
            for line in term.log:
                print(f"  {line}")
    except _Stop as stop:
        print(f"\ninterrupted by {stop}", file=sys.stderr)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        print(f"\ndemo failed: {type(exc).__name__}: {first}", file=sys.stderr)
    finally:
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # finish cleaning up whatever comes
        if client is not None:
            client.stop()
        if capture is not None:
            capture.stop()
            _decrypted(capture.pcap, folder / "keys")
        if server is not None:
            title = "ikev2d log" if isinstance(server, Ikev2d) else "reference responder charon log"
            server.stop()
            _section(title)
            print(server.log().rstrip() or "(empty)")
        topo.destroy()
    _section("result")
    print("connected, pinged through the tunnel, disconnected: OK" if ok
          else "the client did NOT connect or no traffic went through: FAILED")
    return 0 if ok else 1


def _decrypted(pcap: Path, keys: Path) -> None:
    """What Wireshark shows of the capture with the keys ikev2d exported:
    the EAP exchange inside IKE_AUTH and the pings inside ESP."""
    _section("the capture as tshark decrypts it with ikev2d's exported keys (run --keylog)")
    try:
        print(wireshark.summary(pcap, keys).rstrip())
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"(tshark could not read the capture: {exc})")
    print(f"\n(pcap {pcap.name} and the tables ikev2_decryption_table, esp_sa in {keys.name}/:"
          " kept with --keep-files; Wireshark reads the tables from its configuration folder)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--responder", choices=["ikev2d", "strongswan"], default="ikev2d")
    parser.add_argument("--keep-files", action="store_true", help="keep configs and logs (printed at the end)")
    args = parser.parse_args(argv)
    missing = lab_missing()
    if missing:
        print(f"cannot run the demo: {missing}", file=sys.stderr)
        return 2
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    cleanup_stale()
    base = REPO / ".lab"
    base.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"demo-{os.getpid()}-", dir=base))
    try:
        return run(args.responder, folder)
    finally:
        if args.keep_files:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
