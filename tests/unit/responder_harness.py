"""Two peers in one process (pyikev2's style): lab.initiator wired straight
to ikev2d.core.Responder, every effect recorded. Shared by the unit tests
of the responder; the fixtures `pki_dir` and `harness` are in conftest.py."""

from __future__ import annotations

from pathlib import Path

from ikev2d.conf import load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Emit, SendDatagram
from lab.initiator import Initiator, InitiatorOptions

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
