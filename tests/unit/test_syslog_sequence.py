"""What an FTD would log for real sessions: lab.initiator against
ikev2d.core.Responder in one process, every Emit through the syslog
pipeline at the whitepaper's level (informational), checked message by
message with the session's own values.

With the local user database (the configuration's LOCAL server group) the
AAA lines are 113012 and 113015, the local database's IDs; with a RADIUS
server they are 113004 and 113005 and accounting follows (see
test_syslog_catalogue.py for the whitepaper's RADIUS sequence).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from esp.dataplane import SaCounters
from ikev2d.conf import load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Emit, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.settings import build_settings
from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.pipeline import SyslogPipeline
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)
INFORMATIONAL = 6
WHITEPAPER_SEQUENCE = [750002, 113012, 113009, 113008, 734001, 113039, 737003, 737026, 737006, 737034, 737034,
                       750006, 751025, 751026, 602303, 602303, 109201]


class Collect:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sent = self.dropped = 0

    def send(self, record: Record, when: datetime) -> None:
        self.records.append(record)

    async def aclose(self) -> None:
        pass


class Harness:
    """Initiators talk to one responder; effects go where the transport
    would send them: Emit to the pipeline, byte counts before removal."""

    def __init__(self, responder: Responder, level: int = INFORMATIONAL) -> None:
        self.responder = responder
        self.worker = CryptoWorker(responder.settings.signing_keys)
        self.now = 1000.0
        self.sink = Collect()
        self.pipeline = SyslogPipeline(level, [self.sink], clock=lambda: datetime.now(timezone.utc))
        self.installed: list = []
        self.counters = SaCounters(bytes_in=4321, bytes_out=98765)

    def perform(self, effects: list) -> list[bytes]:
        for e in effects:
            if isinstance(e, Emit):
                self.pipeline.emit(e.event)
            elif isinstance(e, InstallChildSa):
                self.installed.append(e.spec)
            elif isinstance(e, RemoveChildSa):
                self.pipeline.child_removed(e.spec.ike_sa_id, self.counters)
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    def sender(self, client: tuple[str, int]):
        def send(datagram: bytes) -> list[bytes]:
            return self.perform(settle(self.responder, self.responder.datagram_received(datagram, GATEWAY, client,
                                                                                        self.now),
                                       self.worker, self.now))
        return send

    def client(self, n: int = 2, **options) -> Initiator:
        addr = (f"198.18.0.{n}", 500)
        return Initiator(InitiatorOptions(local=addr, remote=GATEWAY, **options), self.sender(addr))

    def ids(self) -> list[int]:
        return [r.id for r in self.sink.records]

    def texts(self, message_id: int) -> list[str]:
        return [r.text for r in self.sink.records if r.id == message_id]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture
def harness(tmp_path: Path, pki_dir: Path) -> Harness:
    text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki_dir}")
    path = tmp_path / "ikev2d.yaml"
    path.write_text(text)
    return Harness(Responder(build_settings(load_config(path))))


def test_one_connection_yields_the_whitepaper_sequence_with_its_values(harness: Harness) -> None:
    result = harness.client().connect()
    assert harness.ids() == WHITEPAPER_SEQUENCE
    [spec] = harness.installed
    vip, peer, ftd = str(result.address), "198.18.0.2", "198.18.0.1"
    assert vip == "198.19.0.200"
    assert harness.texts(750002) == [f"Local:{ftd}:500 Remote:{peer}:500 Username:Unknown IKEv2 "
                                     "Received a IKE_INIT_SA request"]
    assert harness.texts(113012) == ["AAA user authentication Successful : local database : user = alice"]
    assert harness.texts(113009) == ["AAA retrieved default group policy (GP-CCIElab) for user = alice"]
    assert harness.texts(734001) == [f"DAP: User alice, Addr {peer}, Connection AnyConnect: The following DAP "
                                     "records were selected for this connection: DfltAccessPolicy"]
    assert harness.texts(113039) == [f"Group <GP-CCIElab> User <alice> IP <{peer}> AnyConnect parent session started."]
    # the core numbers sessions from 0x6000, as the whitepaper's first one
    assert harness.texts(737026) == [f"IPAA: Session=0x00006000, Client assigned {vip} from local pool VPN-Pool"]
    assert harness.texts(737006) == ["IPAA: Session=0x00006000, Local pool request succeeded for tunnel-group 'CCIElab'"]
    assert harness.texts(750006) == [f"Local:{ftd}:500 Remote:{peer}:500 Username:alice IKEv2 SA UP. "
                                     "Reason: New Connection Established"]
    assert harness.texts(751025) == [f"Local:{ftd}:500 Remote:{peer}:500 Username:alice IKEv2 Group:GP-CCIElab "
                                     f"IPv4 Address={vip} IPv6 address=invalid-addr-2-0.0.0.0 assigned to session"]
    # outbound is the client's SPI, inbound ours; hex without padding
    assert harness.texts(602303) == [
        f"IPSEC: An outbound remote access SA (SPI= 0x{spec.spi_out:X}) between {ftd} and {peer} (user= alice) "
        "has been created.",
        f"IPSEC: An inbound remote access SA (SPI= 0x{spec.spi_in:X}) between {ftd} and {peer} (user= alice) "
        "has been created."]
    assert spec.spi_out == result.esp_spi_in
    assert harness.texts(109201) == [f"UAUTH: Session=0x00006000, User=alice, Assigned IP={vip}, "
                                     "Succeeded adding entry."]


def test_second_session_has_the_next_id_and_its_own_address(harness: Harness) -> None:
    harness.client(2).connect()
    harness.sink.records.clear()
    harness.client(3, username="bob", password="Lab-Passw0rd-2").connect()
    assert harness.ids() == WHITEPAPER_SEQUENCE
    assert harness.texts(737026) == ["IPAA: Session=0x00006001, Client assigned 198.19.0.201 from local pool VPN-Pool"]
    assert all("bob" in t for t in harness.texts(602303))


def test_disconnect_yields_113019_737016_750007_602304(harness: Harness) -> None:
    client = harness.client()
    result = client.connect()
    [spec] = harness.installed
    harness.sink.records.clear()
    harness.now += 309.4  # five minutes and nine seconds later
    client.delete()
    assert harness.ids() == [602304, 602304, 737016, 109210, 750007, 113019]
    assert harness.texts(602304)[0].startswith(f"IPSEC: An outbound remote access SA (SPI= 0x{spec.spi_out:X}) ")
    assert harness.texts(737016) == [f"IPAA: Session=0x00006000, Freeing local pool VPN-Pool address {result.address}"]
    assert harness.texts(750007) == ["Local:198.18.0.1:500 Remote:198.18.0.2:500 Username:alice IKEv2 SA DOWN. "
                                     "Reason: User Requested"]
    # bytes from the data plane's counters of the removed Child SA
    assert harness.texts(113019) == [
        "Group = GP-CCIElab, Username = alice, IP = 198.18.0.2, Session disconnected. Session Type: IKEv2, "
        "Duration: 0h:05m:09s, Bytes xmt: 98765, Bytes rcv: 4321, Reason: User Requested"]


def test_administrator_logoff_says_so(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    harness.sink.records.clear()
    sa = next(iter(harness.responder.sas.values()))
    requests = harness.perform(harness.responder.delete_ike_sa(sa, "Administrator Reset", harness.now))
    harness.sender(client.o.local)(client.answer(requests[0])[0])
    assert harness.ids() == [602304, 602304, 737016, 109210, 750007, 113019]
    assert harness.texts(113019)[0].endswith("Reason: Administrator Reset")


def test_wrong_password_yields_113015_and_750003(harness: Harness) -> None:
    with pytest.raises(IkeFailure):
        harness.client(password="Not-Alices-Passw0rd-9").connect()
    assert harness.ids() == [750002, 113015, 750003]
    assert harness.texts(113015) == ["AAA user authentication Rejected : reason = Invalid password : local database : "
                                     "user = ***** : user IP = 198.18.0.2"]
    assert harness.texts(750003) == ["Local:198.18.0.1:500 Remote:198.18.0.2:500 Username:alice IKEv2 Negotiation "
                                     "aborted due to ERROR: Failed to authenticate the IKE SA"]
    assert not any("Not-Alices-Passw0rd-9" in r.text for r in harness.sink.records)


def test_exhausted_pool(tmp_path: Path, pki_dir: Path) -> None:
    text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki_dir}")
    text = text.replace("198.19.0.200-198.19.0.250", "198.19.0.200-198.19.0.200")
    path = tmp_path / "ikev2d.yaml"
    path.write_text(text)
    h = Harness(Responder(build_settings(load_config(path))), level=7)
    h.client(2).connect()
    h.sink.records.clear()
    with pytest.raises(IkeFailure):
        h.client(3, username="bob", password="Lab-Passw0rd-2").connect()
    # the IKE SA comes up without a Child SA: no 751025, 602303 or 109201
    assert h.ids() == [750002, 113012, 113009, 113008, 734001, 113039, 737003, 737019, 737012, 750006, 751026]
    assert "Session=0x00006001" in h.texts(737012)[0]


def test_errors_level_logs_only_errors(harness: Harness) -> None:
    quiet = Harness(harness.responder, level=3)
    with pytest.raises(IkeFailure):
        quiet.client(password="wrong").connect()
    quiet.client(3).connect()
    assert quiet.ids() == []  # none of these reaches severity 3
    warnings = Harness(harness.responder, level=4)
    with pytest.raises(IkeFailure):
        warnings.client(4, password="wrong").connect()
    assert warnings.ids() == [750003]


def test_debugging_adds_the_local_host_of_the_assigned_address(tmp_path: Path, pki_dir: Path) -> None:
    """At `debugging` (7) the session's address gets its local-host entry
    (609001) after 109201, torn down (609002) after 109210 with its age;
    at informational neither appears (the connect above)."""
    text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki_dir}")
    path = tmp_path / "ikev2d.yaml"
    path.write_text(text)
    config = load_config(path)
    h = Harness(Responder(build_settings(config)), level=7)
    interfaces = {str(i.address): i.name for i in config.interfaces}
    start = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    now = [start]
    h.pipeline = SyslogPipeline(7, [h.sink], clock=lambda: now[0], interfaces=interfaces)
    client = h.client()
    result = client.connect()
    assert h.ids() == WHITEPAPER_SEQUENCE + [609001]
    nameif = interfaces["198.18.0.1"]
    assert h.texts(609001) == [f"Built local-host {nameif}:{result.address}"]
    assert h.sink.records[-1].line() == f"%FTD-7-609001: Built local-host {nameif}:{result.address}"
    h.sink.records.clear()
    now[0] = start + timedelta(minutes=5, seconds=9)
    client.delete()
    assert h.ids() == [602304, 602304, 737016, 109210, 609002, 750007, 113019]
    assert h.texts(609002) == [f"Teardown local-host {nameif}:{result.address} duration 0:05:09"]


def test_informational_has_no_debugging_lines(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    client.delete()
    assert not {609001, 609002} & set(harness.ids())
