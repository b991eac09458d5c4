"""Micro-benchmark of ikev2d.crypto: DH per backend side by side, plus the
rest of a responder's IKE_SA_INIT/IKE_AUTH crypto. Not a test.

    .venv/bin/python bench/bench_crypto.py [--rounds N]

Absolute figures drift +-25 % on shared machines; read the ratios, which are
measured in one run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ikev2d.crypto import auth
from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.keymat import derive_child_keys, derive_ike_keys
from ikev2d.crypto.transforms import get_encr, get_integ, get_prf
from ikev2d.iana import DhId, EncrId, HashAlgorithm, IntegId, PrfId


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    """Median of 5 batches, microseconds per call."""
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        samples.append((time.perf_counter() - start) / rounds * 1e6)
    return sorted(samples)[2]


def bench_dh(rounds: int) -> None:
    print(f"{'group':>10} {'op':>9} {'gmpy2 us':>10} {'openssl us':>11} {'openssl/gmpy2':>14}")
    for group_id in (DhId.MODP_2048, DhId.MODP_3072, DhId.MODP_4096):
        fast, ossl = get_dh_group(group_id, "gmpy2"), get_dh_group(group_id, "openssl")
        peer = fast.generate().public_bytes
        kf, ko = fast.generate(), ossl.generate()
        for op, f_fn, o_fn in (
            ("generate", fast.generate, ossl.generate),
            ("exchange", lambda: kf.exchange(peer), lambda: ko.exchange(peer)),
        ):
            f_us, o_us = per_call_us(f_fn, rounds), per_call_us(o_fn, rounds)
            print(f"{group_id.name:>10} {op:>9} {f_us:10.0f} {o_us:11.0f} {o_us / f_us:14.2f}")
    for group_id in (DhId.ECP_256, DhId.ECP_384, DhId.ECP_521, DhId.CURVE25519):
        group = get_dh_group(group_id)
        key, peer = group.generate(), group.generate().public_bytes
        gen_us = per_call_us(group.generate, rounds)
        exch_us = per_call_us(lambda: key.exchange(peer), rounds)
        print(f"{group_id.name:>10} generate {gen_us:10.0f}   exchange {exch_us:6.0f}")


def bench_handshake(rounds: int) -> None:
    """Responder crypto for one connect: DH, keys, our AUTH, SK protection."""
    prf, integ = get_prf(PrfId.HMAC_SHA2_512), get_integ(IntegId.HMAC_SHA2_512_256)
    encr = get_encr(EncrId.AES_CBC, 256)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    nonce_i, nonce_r, spi = os.urandom(32), os.urandom(32), os.urandom(8)
    message = os.urandom(600)

    def connect(group_id: DhId, key: object | None) -> Callable[[], object]:
        group = get_dh_group(group_id)
        peer = group.generate().public_bytes

        def run() -> object:
            ours = group.generate()
            keys = derive_ike_keys(prf, encr, integ, nonce_i, nonce_r,
                                   ours.exchange(peer), spi, spi)
            derive_child_keys(prf, keys.sk_d, nonce_i, nonce_r, 32, 64)
            octets = auth.signed_octets(message, nonce_i, prf, keys.sk_pr, b"\x02\0\0\0vpn")
            if key is None:
                auth.shared_key_auth(prf, b"psk", octets)
            else:
                auth.sign(key, octets, [HashAlgorithm.SHA2_256])  # type: ignore[arg-type]
            for _ in range(4):  # two IKE_AUTH round trips, both directions
                ct = encr.encrypt(keys.sk_er, nonce_r[:16], message[:512])
                integ.mac(keys.sk_ar, ct)
            return None
        return run

    print(f"\n{'handshake crypto':>28} {'us':>7} {'per s':>7}")
    for label, group_id, key in (
        ("DH15 + PSK", DhId.MODP_3072, None),
        ("DH15 + RSA-2048", DhId.MODP_3072, rsa_key),
        ("ECP-384 + PSK", DhId.ECP_384, None),
        ("ECP-384 + ECDSA-384", DhId.ECP_384, ec_key),
    ):
        us = per_call_us(connect(group_id, key), max(rounds // 2, 1))
        print(f"{label:>28} {us:7.0f} {1e6 / us:7.0f}")
    prf_us = per_call_us(lambda: prf.prf_plus(b"k" * 64, b"s" * 80, 300), rounds * 10)
    print(f"{'prf+ 300 B, HMAC-SHA-512':>28} {prf_us:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    bench_dh(args.rounds)
    bench_handshake(args.rounds)


if __name__ == "__main__":
    main()
