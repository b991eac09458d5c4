"""The lab PKI's key-type knob (no root): every server certificate, whatever
its key type, is issued by the one lab CA, for the one server name."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lab.pki import make_lab_pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [("rsa-2048", rsa.RSAPublicKey, 2048), ("ecdsa-p256", ec.EllipticCurvePublicKey, 256),
     ("ecdsa-p384", ec.EllipticCurvePublicKey, 384)],
)
def test_server_identity_of_each_key_type_is_issued_by_the_lab_ca(
    tmp_path: Path, key_type: str, kind: type, size: int
) -> None:
    pki = make_lab_pki(tmp_path)
    ident = pki.server_identity(key_type)
    cert, ca = _load(ident.cert), _load(pki.ca_cert)
    key = cert.public_key()
    assert isinstance(key, kind)
    assert isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)) and key.key_size == size
    assert ident.key_type == key_type
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["vpn.example.test"]
    assert pki.server_identity(key_type) == ident
    assert _load(ident.cert) == cert, "asked twice, the same certificate"


def test_default_identity_is_the_pki_own_and_unknown_types_are_refused(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path, key_type="ecdsa-p384")
    assert pki.server_identity().cert == pki.server_cert == tmp_path / "server.pem"
    assert isinstance(_load(pki.server_cert).public_key(), ec.EllipticCurvePublicKey)
    with pytest.raises(ValueError):
        pki.server_identity("dsa-1024")
    with pytest.raises(ValueError):
        make_lab_pki(tmp_path / "x", key_type="ed25519")
