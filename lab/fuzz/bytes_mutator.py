"""Byte-level mutations (level 1): the classic havoc set, driven only by
the `random.Random` it is given, so a seed replays the same mutations."""

from __future__ import annotations

import random

# boundary values for 1-, 2- and 4-octet fields: where parsers break
INTERESTING_8 = (0, 1, 3, 4, 7, 8, 0x10, 0x20, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_16 = (0, 1, 4, 8, 28, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING_32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def mutate_bytes(data: bytes, rng: random.Random, corpus: list[bytes] | None = None, rounds: int = 0) -> bytes:
    """`data` after 1 to 8 stacked havoc operations (never the same bytes
    unless every operation happened to be an identity)."""
    out = bytearray(data)
    for _ in range(rounds or rng.choice((1, 1, 2, 3, 4, 8))):
        _havoc(out, rng, corpus or [])
    return bytes(out)


def _havoc(out: bytearray, rng: random.Random, corpus: list[bytes]) -> None:
    op = rng.randrange(11)
    n = len(out)
    if op == 0 and n:
        i = rng.randrange(n)
        out[i] ^= 1 << rng.randrange(8)
    elif op == 1 and n:
        out[rng.randrange(n)] = rng.randrange(256)
    elif op == 2 and n:
        out[rng.randrange(n)] = rng.choice(INTERESTING_8)
    elif op == 3 and n >= 2:
        i = rng.randrange(n - 1)
        out[i:i + 2] = rng.choice(INTERESTING_16).to_bytes(2, "big")
    elif op == 4 and n >= 4:
        i = rng.randrange(n - 3)
        out[i:i + 4] = rng.choice(INTERESTING_32).to_bytes(4, "big")
    elif op == 5 and n:
        i = rng.randrange(n)
        del out[i:i + rng.randint(1, max(1, min(64, n - i)))]
    elif op == 6:
        i = rng.randint(0, n)
        out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    elif op == 7 and n:
        del out[rng.randint(0, n - 1):]  # truncate
    elif op == 8 and n:
        i, j = rng.randrange(n), rng.randrange(n)
        size = rng.randint(1, min(32, n - max(i, j)))
        out[j:j + size] = out[i:i + size]
    elif op == 9 and corpus:
        other = rng.choice(corpus)
        if other:
            a = rng.randrange(len(other))
            chunk = other[a:a + rng.randint(1, 256)]
            i = rng.randint(0, n)
            out[i:i + (len(chunk) if rng.random() < 0.5 else 0)] = chunk
    elif op == 10:
        out += bytes(rng.randint(1, 64)) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 64))
