"""Reload decisions, in-process against the sans-I/O responder: which
sessions a new configuration ends, that the others keep their address,
and that the next client meets the new configuration at once."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ikev2d.conf import Config, load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Emit, RemoveChildSa, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.iana import DhId
from ikev2d.reload.plan import RELOAD_REASON, SessionTerms, keep_pools, move_to, why_it_ends
from ikev2d.sa_types import State
from ikev2d.settings import build_settings
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")  # one self-signed identity: key generation is slow


class Lab:
    """One responder, its configuration file, and initiators wired to it."""

    def __init__(self, folder: Path, pki: Path) -> None:
        self.folder = folder
        self.text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki}")
        self.config = self.load(self.text)
        self.responder = Responder(build_settings(self.config))
        self.worker = CryptoWorker(self.responder.settings.signing_keys)
        self.now = 1000.0
        self.effects: list = []

    def load(self, text: str) -> Config:
        path = self.folder / "ikev2d.yaml"
        path.write_text(text)
        return load_config(path)

    def edited(self, *edits: tuple[str, str]) -> Config:
        text = self.text
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        return self.load(text)

    def client(self, n: int, **options) -> Initiator:
        addr = (f"198.18.0.{n}", 500)

        def send(datagram: bytes) -> list[bytes]:
            effects = settle(self.responder, self.responder.datagram_received(datagram, GATEWAY, addr, self.now),
                             self.worker, self.now)
            self.effects += effects
            return [e.data for e in effects if isinstance(e, SendDatagram)]

        return Initiator(InitiatorOptions(local=addr, remote=GATEWAY, **options), send)

    def reload(self, new: Config) -> tuple[list, list]:
        settings = build_settings(new)
        keep_pools(self.config, new, self.responder.settings, settings)
        effects, ended = move_to(self.responder, self.config, new, settings, self.now)
        self.config = new
        self.worker = CryptoWorker(settings.signing_keys)
        return effects, ended


@pytest.fixture
def lab(tmp_path: Path, pki_dir: Path) -> Lab:
    return Lab(tmp_path, pki_dir)


def test_why_it_ends(lab: Lab) -> None:
    old = lab.config
    same = SessionTerms(0x6000, "CCIElab", "VPN-Pool")
    assert why_it_ends(old, old, same) is None
    assert why_it_ends(old, lab.edited(("dh_groups: [15]", "dh_groups: [15, 20]")), same) is None
    banner = lab.edited(("default_domain: lab.example.test", "default_domain: lab.example.test\n      banner: Hi"))
    assert why_it_ends(old, banner, same) == "group policy GP-CCIElab changed"
    assert why_it_ends(old, banner, SessionTerms(1, None, None)) is None  # not yet authenticated
    pool = lab.edited(("range: 198.19.0.200-198.19.0.250", "range: 198.19.0.100-198.19.0.250"))
    assert why_it_ends(old, pool, same) == "ip local pool VPN-Pool changed"
    profile = lab.edited(("eap_methods: [mschapv2, md5, gtc]", "eap_methods: [md5]"))
    assert why_it_ends(old, profile, same) == "connection profile CCIElab changed"
    renamed = lab.edited(("  - name: CCIElab\n", "  - name: Lab2\n"),
                         ("default_connection_profile: CCIElab", "default_connection_profile: Lab2"))
    assert why_it_ends(old, renamed, same) == "connection profile CCIElab removed"


def test_an_unrelated_change_keeps_sessions_and_their_addresses(lab: Lab) -> None:
    alice = lab.client(2).connect()
    assert alice.address == IPv4Address("198.19.0.200")
    effects, ended = lab.reload(lab.edited(("dh_groups: [15]", "dh_groups: [15, 20]"),
                                           ("password: Lab-Passw0rd-2", "password: Bobs-New-Pw-2")))
    assert effects == [] and ended == []
    [sa] = lab.responder.sas.values()
    assert sa.state is State.ESTABLISHED and sa.settings is lab.responder.settings
    assert sa.profile is lab.responder.settings.profiles["CCIElab"]
    # the pool carried over with alice's lease: bob gets the next address,
    # and his new password is the one that works
    with pytest.raises(IkeFailure):
        lab.client(3, username="bob", password="Lab-Passw0rd-2").connect()
    bob = lab.client(4, username="bob", password="Bobs-New-Pw-2").connect()
    assert bob.address == IPv4Address("198.19.0.201")


def test_the_next_client_meets_a_new_ike_policy_at_once(lab: Lab) -> None:
    with pytest.raises(IkeFailure):
        lab.client(2, dh_groups=(DhId.ECP_384,)).ike_sa_init()
    lab.reload(lab.edited(("dh_groups: [15]", "dh_groups: [15, 20]")))
    assert lab.client(3, dh_groups=(DhId.ECP_384,)).connect().address == IPv4Address("198.19.0.200")


def test_a_changed_group_policy_ends_its_sessions_with_a_delete(lab: Lab) -> None:
    alice = lab.client(2)
    first = alice.connect()
    effects, ended = lab.reload(lab.edited(("dns_servers: [198.19.0.53]", "dns_servers: [198.19.0.54]")))
    assert [(e.username, e.why) for e in ended] == [("alice", "group policy GP-CCIElab changed")]
    assert str(ended[0]) == "session 0x00006000 (alice) ended: group policy GP-CCIElab changed"
    deleted = [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]
    assert [(d.username, d.reason) for d in deleted] == [("alice", RELOAD_REASON)]
    assert [e.spec.spi_in for e in effects if isinstance(e, RemoveChildSa)] == [first.esp_spi_out]
    [request] = [e.data for e in effects if isinstance(e, SendDatagram)]
    alice.answer(request)
    assert alice.deleted_by_peer
    # the address went back to the old pool object, which carried over: the
    # next client gets it, with the new group policy's DNS server
    again = lab.client(3).connect()
    assert again.address == IPv4Address("198.19.0.200")
    assert again.dns == [IPv4Address("198.19.0.54")]


def test_a_client_mid_negotiation_finishes_under_the_new_configuration(lab: Lab) -> None:
    lab.client(2).connect()
    half = lab.client(3)
    half.ike_sa_init()  # no profile chosen yet: nothing of it can have changed
    effects, ended = lab.reload(lab.edited(("idle_timeout_minutes: 30", "idle_timeout_minutes: 45")))
    assert [e.username for e in ended] == ["alice"]
    assert [sa.state for sa in lab.responder.sas.values()] == [State.DELETING, State.CONNECTING]
    pending = list(lab.responder.sas.values())[1]
    assert pending.settings is lab.responder.settings
    result = half.ike_auth()
    assert result.address == IPv4Address("198.19.0.200")  # alice's, freed by her Delete
    assert pending.profile is lab.responder.settings.profiles["CCIElab"]


def test_a_new_dpd_interval_applies_to_surviving_sessions(lab: Lab) -> None:
    lab.client(2).connect()
    assert lab.responder.get_timer() == lab.now + 30
    lab.reload(lab.edited(("dpd_interval_seconds: 30", "dpd_interval_seconds: 10")))
    assert lab.responder.get_timer() == lab.now + 10
