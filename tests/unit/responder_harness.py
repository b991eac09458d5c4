"""Two peers in one process (pyikev2's style): lab.initiator wired straight
to ikev2d.core.Responder, every effect recorded. Shared by the unit tests
of the responder; the fixtures `pki_dir` and `harness` are in conftest.py."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikev2d.conf import load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Emit, SendDatagram
from ikev2d.settings import build_settings
from lab.initiator import Initiator, InitiatorOptions
from lab.pki import LabPki, PrivateKey

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)


def make_config(tmp_path: Path, **replace: str):
    """config/ikev2d.yaml with its store under `tmp_path` and `replace` applied."""
    text = (ROOT / "config" / "ikev2d.yaml").read_text()
    text = text.replace("store: ../run/pki", f"store: {tmp_path / 'pki'}")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "ikev2d.yaml"
    path.write_text(text)
    return load_config(path)


class Harness:
    """Wires initiators to one responder and records every effect."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.worker = CryptoWorker(responder.settings.signing_keys)
        self.now = 1000.0
        self.effects: list = []

    def sender(self, client: tuple[str, int]):
        def send(datagram: bytes) -> list[bytes]:
            effects = settle(self.responder, self.responder.datagram_received(datagram, GATEWAY, client, self.now),
                             self.worker, self.now)
            self.effects += effects
            return [e.data for e in effects if isinstance(e, SendDatagram)]
        return send

    def client(self, n: int = 2, **options) -> Initiator:
        addr = (f"198.18.0.{n}", 500)
        return Initiator(InitiatorOptions(local=addr, remote=GATEWAY, **options), self.sender(addr))

    def events(self, kind: type) -> list:
        return [e.event for e in self.effects if isinstance(e, Emit) and isinstance(e.event, kind)]


# where config/ikev2d.yaml's objects end: trusted CAs go in before it
TRUSTED_CA = "  # FMC: Objects > Local Realm"


def trusting(ca_cert: Path, more: str = "") -> dict[str, str]:
    """The make_config replacement that adds the lab CA as trusted CA
    LAB-CA; `more` is more lines of that CA (e.g. its revocation check)."""
    return {TRUSTED_CA: f"  trusted_ca_certificates:\n    - name: LAB-CA\n      certificate: {ca_cert}\n"
                        f"{more}{TRUSTED_CA}"}


def certificate_harness(tmp_path: Path, pki_dir: Path, ca_cert: Path, method: str, ca_more: str = "") -> Harness:
    """A responder whose profile authenticates with `method` (e.g.
    client-certificate) and trusts the lab CA; its own identity in `pki_dir`."""
    config = make_config(tmp_path, **{
        f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
        "method: aaa-only": f"method: {method}",
        **trusting(ca_cert, ca_more),
    })
    return Harness(Responder(build_settings(config)))


def load_client(pki: LabPki, name: str) -> tuple[x509.Certificate, PrivateKey]:
    """A lab client's certificate and private key, as the initiator takes them."""
    ident = pki.client_identity(name)
    key = serialization.load_pem_private_key(ident.key.read_bytes(), password=None)
    assert not isinstance(key, str)
    return x509.load_pem_x509_certificate(ident.cert.read_bytes()), key  # type: ignore[return-value]
