"""The TLS server context: the device identity certificate (FMC's "SSL
Global Identity Certificate"), TLS 1.2 or newer."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ..identity import Identity


def server_context(identity: Identity) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in [identity.certificate, *identity.chain])
    key = identity.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    # ssl loads a certificate and key only from files: a private folder that
    # lives just as long as the load
    with tempfile.TemporaryDirectory(prefix="ikev2d-tls-") as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_path.write_bytes(chain)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
