"""Check TLS exposure from outside, as a port scan or AnyConnect would:

    python -m ikev2d.client_services.probe HOST PORT [--path /] [--cafile CA.pem]
    python -m ikev2d.client_services.probe --udp HOST PORT

Prints one JSON object: whether TCP connected, whether the TLS handshake
completed (and with which version and peer certificate subject), and, with
--path, the HTTP status and body of a GET. Exit status 0 when the handshake
completed, 1 otherwise.

With --udp it sends one datagram that starts like a DTLS ClientHello and
reports whether the host refused it (ICMP port unreachable: nothing bound),
answered, or stayed silent; exit status 0 unless refused.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
from typing import Any

MAX_RESPONSE = 1 << 20
# a DTLS 1.2 handshake record header (content type 22, version 254.253, epoch 0)
DTLS_HELLO_START = bytes([22, 254, 253, 0, 0]) + bytes(8)


def probe(host: str, port: int, *, path: str | None = None, cafile: str | None = None,
          server_name: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    out: dict[str, Any] = {"host": host, "port": port, "connected": False, "handshake": False}
    ctx = ssl.create_default_context(cafile=cafile)
    if not cafile:
        # without a CA the question is exposure, not trust
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["connected"] = True
    with raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=server_name or (host if cafile else None)) as tls:
                out["handshake"] = True
                out["tls_version"] = tls.version()
                cert = tls.getpeercert(binary_form=True)
                if cert is not None:
                    out["peer_certificate_subject"] = _subject(cert)
                if path is not None:
                    out.update(_get(tls, host, path))
        except (OSError, ssl.SSLError) as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def udp_probe(host: str, port: int, *, wait: float = 1.0) -> dict[str, Any]:
    out: dict[str, Any] = {"host": host, "port": port, "refused": False, "answered": False}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        # connected, so the kernel reports an ICMP port unreachable as ECONNREFUSED
        sock.connect((host, port))
        sock.send(DTLS_HELLO_START)
        try:
            out["answered"] = len(sock.recv(65535)) > 0
        except ConnectionRefusedError:
            out["refused"] = True
        except TimeoutError:
            pass
    return out


def _subject(der: bytes) -> str:
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def _get(tls: ssl.SSLSocket, host: str, path: str) -> dict[str, Any]:
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while len(data) < MAX_RESPONSE:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else None
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return {"status": status, "headers": headers, "body": body.decode("utf-8", "replace")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ikev2d.client_services.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--path", help="also GET this path and report status and body")
    p.add_argument("--cafile", help="verify the server against this CA (default: accept any certificate)")
    p.add_argument("--server-name", help="name to verify and send as SNI (default: HOST)")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--udp", action="store_true", help="probe the UDP (DTLS) port instead")
    args = p.parse_args(argv)
    if args.udp:
        found = udp_probe(args.host, args.port, wait=min(args.timeout, 2.0))
        json.dump(found, sys.stdout)
        sys.stdout.write("\n")
        return 1 if found["refused"] else 0
    result = probe(args.host, args.port, path=args.path, cafile=args.cafile, server_name=args.server_name,
                   timeout=args.timeout)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if result["handshake"] else 1


if __name__ == "__main__":
    sys.exit(main())
