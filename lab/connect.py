"""Connect once to a running ikev2d over UDP with the lab's Python
initiator, print what the headend assigned, and disconnect. No root, no
namespaces, no strongSwan: for trying ikev2d on one machine.

    python -m lab.connect --gateway 127.0.0.1 --port 10500 --user alice --password PASSWORD
    python -m lab.connect --config DIR/ikev2d.yaml --user alice      # address, port, password from the file
    python -m lab.connect --config DIR/ikev2d.yaml --password PW --eap peap --peap-ca CA.pem  # PEAP, RADIUS behind

Exit 0 connected (and disconnected), 1 refused or no answer. The password
is never printed.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ikev2d.iana import DhId, EapType, IntegId

from lab.initiator import IkeFailure, Initiator, InitiatorOptions
from lab.peap import PEAP

ANSWER_WAIT = 5.0  # seconds for the first datagram of an answer (DH and RSA take a moment)
MORE_WAIT = 0.3  # then for more fragments of the same answer


class UdpSender:
    """The initiator's `send(datagram) -> [datagrams]` over one UDP socket:
    the answer is every datagram that arrives until a short quiet spell."""

    def __init__(self, gateway: tuple[str, int]) -> None:
        self.gateway = gateway
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(gateway)
        self.local: tuple[str, int] = self.sock.getsockname()[:2]

    def __call__(self, datagram: bytes) -> list[bytes]:
        self.sock.send(datagram)
        answers: list[bytes] = []
        deadline = time.monotonic() + ANSWER_WAIT
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return answers
            self.sock.settimeout(wait)
            try:
                answers.append(self.sock.recv(65535))
            except TimeoutError:
                return answers
            except ConnectionRefusedError:  # ICMP port unreachable: nobody listens there
                raise IkeFailure(None, f"nothing listens on UDP {self.gateway[0]}:{self.gateway[1]}") from None
            deadline = time.monotonic() + MORE_WAIT

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Target:
    gateway: str
    port: int
    password: str
    responder_id: str


def target_from(args: argparse.Namespace) -> Target:
    """The flags, filled in from the configuration file when one is given."""
    gateway, port, password, responder_id = args.gateway, args.port, args.password, args.responder_id
    if args.config is not None:
        from ikev2d.conf import load_config
        config = load_config(Path(args.config))
        ra = config.remote_access_vpn
        ike = [a for a in ra.access_interfaces if a.enable_ipsec_ikev2]
        if gateway is None and ike:
            gateway = str(config.interface(ike[0].interface).address)
        port = port if port is not None else ra.ike_port
        if password is None:
            password = next((u.password for u in config.local_users if u.username == args.user), None)
        profile = next(p for p in config.connection_profiles if p.name == ra.default_connection_profile)
        if responder_id is None and profile.ike_identity:
            responder_id = profile.ike_identity
    if gateway is None or password is None:
        raise SystemExit("lab.connect: give --gateway and --password, or --config FILE with the user in it")
    return Target(gateway, port if port is not None else 500, password, responder_id or "vpn.example.test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.connect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", help="ikev2d's address (default: the configuration's IKEv2 interface)")
    parser.add_argument("--port", type=int, help="its IKE port (default: the configuration's ike_port, else 500)")
    parser.add_argument("--config", help="read address, port, password and IKE identity from this file")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", help="EAP-MSCHAPv2 password (default: the user's in --config)")
    parser.add_argument("--eap", choices=("mschapv2", "peap"), default="mschapv2",
                        help="peap: PEAPv0 with MS-CHAPv2 inside, for a RADIUS server behind ikev2d's EAP relay")
    parser.add_argument("--peap-ca", help="PEAP: the CA file that must have signed the RADIUS server's certificate")
    parser.add_argument("--responder-id", help="the IDr to ask for (default: the profile's ike_identity)")
    parser.add_argument("--group", metavar="PROFILE",
                        help="send this connection profile's name as the IKE identity (key-id) to land in it")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="keep trying this long while nothing listens yet (a daemon just started)")
    parser.add_argument("--stay", type=float, default=0.0, metavar="SECONDS",
                        help="stay connected this long before disconnecting (to look at `ikev2d show`)")
    args = parser.parse_args(argv)
    target = target_from(args)
    sender = UdpSender((target.gateway, target.port))
    options = InitiatorOptions(username=args.user, password=target.password, responder_id=target.responder_id,
                               identity=args.group, local=sender.local, remote=(target.gateway, target.port),
                               # the whitepaper's suite, which the starter and demo configurations ask for
                               ike_integ=IntegId.HMAC_SHA2_512_256, dh_groups=(DhId.MODP_3072,),
                               eap_method=PEAP if args.eap == "peap" else EapType.MSCHAPV2,
                               peap_ca=Path(args.peap_ca) if args.peap_ca else None)
    client = Initiator(options, sender)
    try:
        _first_exchange(client, time.monotonic() + args.wait)
        result = client.ike_auth()
        print(f"connected to {target.gateway}:{target.port} as {args.user}: address {result.address}"
              f" netmask {result.netmask} dns {' '.join(map(str, result.dns)) or '-'}"
              f" ESP SPIs in 0x{result.esp_spi_in:08x} out 0x{result.esp_spi_out:08x}")
        if args.stay:
            time.sleep(args.stay)
        client.delete()
        print("disconnected")
        return 0
    except IkeFailure as exc:
        print(f"lab.connect: {exc}", file=sys.stderr)
        return 1
    finally:
        sender.close()


def _first_exchange(client: Initiator, deadline: float) -> None:
    """IKE_SA_INIT, tried again while nothing listens and time is left."""
    while True:
        try:
            client.ike_sa_init()
            return
        except IkeFailure as exc:
            if exc.notify is not None or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
