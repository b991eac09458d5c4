"""`show crypto ca certificates`: the identity certificate and the CA
certificates the daemon holds, ASA layout, with their trustpoints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from ikev2d.settings import build_settings
from ikev2d.show import ca_certificates
from lab.pki import LabPki, make_lab_pki

from responder_harness import make_config, trusting


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("labpki"))


def _held(tmp_path: Path, lab_pki: LabPki, now: dt.datetime) -> list[dict]:
    server = lab_pki.server_identity()
    config = make_config(tmp_path, **{
        "enrollment: self-signed": f"enrollment: files\n      certificate: {server.cert}\n"
                                   f"      private_key: {server.key}",
        **trusting(lab_pki.ca_cert),
    })
    return ca_certificates.snapshot(build_settings(config), config, now)


def test_identity_then_the_trusted_ca(tmp_path: Path, lab_pki: LabPki, now: dt.datetime) -> None:
    identity, ca = _held(tmp_path, lab_pki, now)
    cert = x509.load_pem_x509_certificate(lab_pki.server_identity().cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(lab_pki.ca_cert.read_bytes())
    assert (identity["kind"], identity["trustpoints"]) == ("Certificate", ["VPN-Identity"])
    assert identity["serial_number"] == f"{cert.serial_number:x}"
    assert identity["subject"][0] == f"cn={cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value}"
    assert (ca["kind"], ca["trustpoints"], ca["usage"]) == ("CA Certificate", ["LAB-CA"], "Signature")
    assert ca["serial_number"] == f"{ca_cert.serial_number:x}" and ca["status"] == "Available"
    text = ca_certificates.render([identity, ca]).splitlines()
    assert text[:6] == [
        "Certificate",
        "  Status: Available",
        f"  Certificate Serial Number: {cert.serial_number:x}",
        f"  Certificate Usage: {identity['usage']}",
        "  Public Key Type: RSA (2048 bits)",
        "  Signature Algorithm: SHA256 with RSA Encryption",
    ]
    start = cert.not_valid_before_utc
    assert f"    start date: {start:%H:%M:%S} UTC {start:%b} {start.day} {start.year}" in text
    assert "  Associated Trustpoints: VPN-Identity " in text and "  Associated Trustpoints: LAB-CA " in text
    assert text[text.index("CA Certificate") - 1] == ""  # a blank line between two


def test_a_certificate_past_its_dates_is_said_expired(tmp_path: Path, lab_pki: LabPki, now: dt.datetime) -> None:
    later = now + dt.timedelta(days=365 * 30)
    assert {v["status"] for v in _held(tmp_path, lab_pki, later)} == {"Expired"}
