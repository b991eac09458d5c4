"""Crypto-only ceiling of one connect, for the bench driver (not a test):

    .venv/bin/python bench/ceiling.py [--rounds N] [--cpu C] [--json FILE]

The responder's crypto for one connect with the default configuration's
suite, and nothing else: a MODP-3072 (DH 15) key pair and shared secret
(ikev2d's own group code, short exponent), the IKE and Child SA key
derivation (PRF-HMAC-SHA-512), one RSA-2048 signature over the AUTH octets,
and AES-256-CBC + HMAC-SHA-512/256 over four ~512-byte IKE_AUTH messages.
Pinned to one CPU (`--cpu`, default 0, where the benchmarks pin the server),
5 batches, each sample kept. A server's CPU per connect + terminate cannot go
below this; the driver reports "% of crypto ceiling" as ceiling / server CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from ikev2d.crypto import auth
from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.keymat import derive_child_keys, derive_ike_keys
from ikev2d.crypto.transforms import get_encr, get_integ, get_prf
from ikev2d.iana import DhId, EncrId, HashAlgorithm, IntegId, PrfId


def connect_crypto() -> Callable[[], None]:
    """One connect's responder crypto, keys and peer values made beforehand."""
    prf, integ = get_prf(PrfId.HMAC_SHA2_512), get_integ(IntegId.HMAC_SHA2_512_256)
    encr = get_encr(EncrId.AES_CBC, 256)
    group = get_dh_group(DhId.MODP_3072)
    peer = group.generate().public_bytes
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nonce_i, nonce_r, spi = os.urandom(32), os.urandom(32), os.urandom(8)
    message = os.urandom(600)

    def run() -> None:
        ours = group.generate()
        keys = derive_ike_keys(prf, encr, integ, nonce_i, nonce_r, ours.exchange(peer), spi, spi)
        derive_child_keys(prf, keys.sk_d, nonce_i, nonce_r, 32, 64)
        octets = auth.signed_octets(message, nonce_i, prf, keys.sk_pr, b"\x02\0\0\0vpn")
        auth.sign(key, octets, [HashAlgorithm.SHA2_256])
        for _ in range(4):  # two IKE_AUTH round trips, both directions
            sealed = encr.encrypt(keys.sk_er, nonce_r[:16], message[:512])
            integ.mac(keys.sk_ar, sealed)

    return run


def measure(rounds: int) -> list[float]:
    """Milliseconds per connect, one figure per batch of `rounds`."""
    run = connect_crypto()
    for _ in range(5):
        run()  # warm
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            run()
        samples.append((time.process_time() - start) * 1000 / rounds)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="connects per batch (5 batches)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to")
    parser.add_argument("--json", type=Path, default=None, help="write the samples here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    samples = measure(args.rounds)
    result = {"bench": "ceiling", "cpu": args.cpu, "rounds": args.rounds,
              "suite": "MODP-3072 (short exponent), PRF-HMAC-SHA-512, RSA-2048 signature, "
                       "AES-256-CBC + HMAC-SHA-512/256 over 4 IKE_AUTH messages",
              "handshake_ms_samples": [round(s, 4) for s in samples],
              "handshake_ms": round(statistics.median(samples), 4)}
    print(f"crypto-only ceiling of one connect: {result['handshake_ms']} ms "
          f"(batches: {', '.join(f'{s:.3f}' for s in samples)})")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
