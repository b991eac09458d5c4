"""Snapshots for the `show` renderer tests, with the whitepaper's values
(FTDv 192.168.0.204, client 192.168.0.205, adm-marin, 172.31.1.205 from
VPN-Pool, SPIs 0x3e75843/0x460223, GP-CCIElab / CCIElab). No tests here."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Iterator

from ikev2d.iana import DhId, EncrId, IntegId, PrfId
from ikev2d.show.snapshot import ChildSnapshot, Counter, ListenerSnapshot, SessionSnapshot, SessionTotals, Snapshot

# Real ASA outputs, from networktocode/ntc-templates' tests/cisco_asa/ (see
# docs/ftd-behaviour.md, "Sources", [NTC]): the project's shared reference
# folder beside the checkout has them; IKEV2D_ASA_SAMPLES may name another.
SAMPLES = Path(os.environ.get("IKEV2D_ASA_SAMPLES")
               or Path(__file__).resolve().parents[3] / "shared" / "reference" / "asa-cli-samples")
LOGIN = 1633693238.0  # 2021-10-08 11:40:38 UTC, the whitepaper's SA UP


def child(**changes: Any) -> ChildSnapshot:
    base = ChildSnapshot(
        spi_in=0x3E75843, spi_out=0x460223,
        local_selectors=("0.0.0.0/0",), remote_selectors=("172.31.1.205/32",),
        encr_id=EncrId.AES_CBC, encr_bits=256, integ_id=IntegId.HMAC_SHA2_512_256,
        lifetime_seconds=28800, lifetime_kilobytes=4608000, age_seconds=12.0, nat_t=True,
        packets_in=1145, bytes_in=98765, packets_out=1000, bytes_out=1234567, seq_out=1000, seq_in_highest=1145,
    )
    return dataclasses.replace(base, **changes)


def session(**changes: Any) -> SessionSnapshot:
    base = SessionSnapshot(
        unique_id=0x6000, state="ESTABLISHED", username="adm-marin", tunnel_group="CCIElab",
        group_policy="GP-CCIElab", interface="outside",
        local_address="192.168.0.204", local_port=4500, remote_address="192.168.0.205", remote_port=59395,
        assigned_ip="172.31.1.205", pool="VPN-Pool", spi_i="0bf6c1d1f6c7e2b1", spi_r="5be1ff81f5a3c6d6",
        encr_id=EncrId.AES_CBC, encr_bits=256, integ_id=IntegId.HMAC_SHA2_512_256, prf_id=PrfId.HMAC_SHA2_512,
        dh_id=DhId.MODP_3072, auth_sign="RSA", auth_verify="EAP", local_id="vpn.example.test",
        remote_id="adm-marin", ike_lifetime_seconds=86400, created_epoch=LOGIN - 1,
        established_epoch=LOGIN, active_seconds=12.0, nat_peer=True, nat_local=False,
        local_next_message_id=0, remote_next_message_id=6, dpd_interval=30.0, dpd_retries=4,
        idle_timeout_minutes=30, client_type="generic", children=(child(),),
    )
    return dataclasses.replace(base, **changes)


def snapshot(*sessions: SessionSnapshot, listeners: tuple[ListenerSnapshot, ...] = (),
             totals: SessionTotals | None = None, taken: float = LOGIN + 12) -> Snapshot:
    if totals is None:
        n = len([s for s in sessions if s.established])
        one = Counter(n, n, n)
        totals = SessionTotals(generic_ikev2=one, ikev2_tunnels=one, ipsec_natt_tunnels=one)
    return Snapshot(hostname="FTDv-1", taken_epoch=taken, vpn_capacity=250, sessions=sessions,
                    listeners=listeners, totals=totals)


def sample_lines(name: str) -> list[str]:
    path = SAMPLES / name
    if not path.is_file():
        import pytest
        pytest.skip(f"the ASA output sample {name} (ntc-templates) is not on this machine: "
                    "set IKEV2D_ASA_SAMPLES to a folder that has it")
    return path.read_text().splitlines()


class timezone:
    """Run with TZ set (the CLI prints local time, as the ASA does)."""

    def __init__(self, tz: str) -> None:
        self.tz = tz

    def __enter__(self) -> None:
        self.old = os.environ.get("TZ")
        os.environ["TZ"] = self.tz
        time.tzset()

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self.old
        time.tzset()


def only(items: list[str], prefix: str) -> Iterator[str]:
    return (i for i in items if i.lstrip().startswith(prefix))
