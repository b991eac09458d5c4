"""Payload-aware mutations (level 3): the payload chain of a plaintext is
split into generic payloads, then one payload's fields are bent where the
responder's parsers and tasks make decisions (counts, lengths, SPI sizes,
transform IDs, TS ranges, CP attributes, EAP codes/types/lengths, notify
types), or payloads are dropped, duplicated, reordered and spliced in from
other messages. Lengths are kept right unless the mutation is a length lie,
so most results parse and reach the tasks."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Callable

from ikev2d.iana import NotifyType, PayloadType

from .bytes_mutator import INTERESTING_8, INTERESTING_16, mutate_bytes


@dataclass
class Raw:
    """A payload as the generic header frames it; `length` None: right."""

    type: int
    flags: int
    body: bytes
    length: int | None = None


@dataclass
class Dictionary:
    """Values worth using: what the session really has (SPIs of live Child
    SAs, IKE SPIs), so a Delete or REKEY_SA can name something real."""

    child_spis: list[bytes]
    ike_spis: list[bytes]
    corpus: list[Raw]  # payloads seen in other messages, to splice in


def split_chain(first: int, data: bytes) -> list[Raw] | None:
    """The generic payloads of a well-formed chain, or None."""
    out: list[Raw] = []
    pos, nxt = 0, first
    while nxt:
        if len(data) - pos < 4:
            return None
        ptype = nxt
        nxt, flags, length = struct.unpack_from("!BBH", data, pos)
        if length < 4 or pos + length > len(data):
            return None
        out.append(Raw(ptype, flags, data[pos + 4:pos + length]))
        pos += length
    return out if pos == len(data) else None


def join_chain(payloads: list[Raw]) -> tuple[int, bytes]:
    parts = []
    for i, p in enumerate(payloads):
        nxt = payloads[i + 1].type if i + 1 < len(payloads) else 0
        length = p.length if p.length is not None else 4 + len(p.body)
        parts.append(struct.pack("!BBH", nxt & 0xFF, p.flags & 0xFF, length & 0xFFFF) + p.body)
    return (payloads[0].type if payloads else 0), b"".join(parts)


NOTIFY_TYPES = (1, 4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 43, 44, 45, 47, 16384, 16385, 16386,
                16387, 16388, 16389, 16390, 16391, 16392, NotifyType.REKEY_SA, 16394, 16395, 16396, 16404,
                16405, 16417, 16430, 16431, 0, 65535)
TRANSFORM_IDS = {1: (3, 11, 12, 13, 14, 18, 19, 20, 28, 0, 255, 1024), 2: (1, 2, 4, 5, 6, 7, 8, 0, 255),
                 3: (1, 2, 12, 13, 14, 0, 255), 4: (1, 2, 5, 14, 15, 16, 19, 20, 21, 31, 0, 255, 1024),
                 5: (0, 1, 2, 255)}
EAP_TYPES = (1, 2, 3, 4, 5, 6, 13, 21, 25, 26, 43, 254, 255, 0)
CP_ATTRS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16, 0x7000, 0x7001, 0x7FFF, 0)


def mutate_plaintext(first: int, data: bytes, rng: random.Random, words: Dictionary,
                     focus: tuple[int, ...] = ()) -> tuple[int, bytes]:
    """One to three payload-aware mutations of a payload chain; `focus`
    prefers payloads of those types. A chain that does not split is
    mutated byte by byte instead."""
    payloads = split_chain(first, data)
    if payloads is None:
        return first, mutate_bytes(data, rng)
    for _ in range(rng.choice((1, 1, 2, 3))):
        _one(payloads, rng, words, focus)
    first_out, body = join_chain(payloads)
    if rng.random() < 0.05:
        first_out = rng.choice((0, 1, 33, 41, 46, 48, 53, 200))
    return first_out, body


def _one(payloads: list[Raw], rng: random.Random, words: Dictionary, focus: tuple[int, ...]) -> None:
    chain_op = rng.random() < 0.25 or not payloads
    if chain_op:
        _chain_op(payloads, rng, words)
        return
    chosen = [p for p in payloads if p.type in focus] or payloads
    p = rng.choice(chosen)
    if rng.random() < 0.15:
        p.length = rng.choice((0, 3, 4, 5, 4 + len(p.body) - 1, 4 + len(p.body) + 1, 0xFFFF))
        return
    if rng.random() < 0.05:
        p.flags ^= 0x80  # the critical bit
        return
    mutator = BODY_MUTATORS.get(p.type)
    p.body = mutator(p.body, rng, words) if mutator and rng.random() < 0.85 else mutate_bytes(p.body, rng)


def _chain_op(payloads: list[Raw], rng: random.Random, words: Dictionary) -> None:
    op = rng.randrange(6)
    if op == 0 and payloads:
        del payloads[rng.randrange(len(payloads))]
    elif op == 1 and payloads:
        p = rng.choice(payloads)
        for _ in range(rng.choice((1, 1, 2, 16))):
            payloads.insert(rng.randint(0, len(payloads)), Raw(p.type, p.flags, p.body))
    elif op == 2 and len(payloads) > 1:
        i, j = rng.randrange(len(payloads)), rng.randrange(len(payloads))
        payloads[i], payloads[j] = payloads[j], payloads[i]
    elif op == 3 and words.corpus:
        donor = rng.choice(words.corpus)
        payloads.insert(rng.randint(0, len(payloads)), Raw(donor.type, donor.flags, donor.body))
    elif op == 4:
        ptype = rng.choice((0x01, 49, 52, 54, 127, 128, 255, 46, 53))
        payloads.insert(rng.randint(0, len(payloads)), Raw(ptype, rng.choice((0, 0x80)), rng.randbytes(rng.randint(0, 16))))
    elif payloads:
        payloads[rng.randrange(len(payloads))].type = rng.choice(list(PayloadType)) & 0xFF


# -- body mutators, one per payload that carries structure ---------------------

def _set(body: bytes, at: int, size: int, value: int) -> bytes:
    if at + size > len(body):
        return body
    return body[:at] + (value & ((1 << 8 * size) - 1)).to_bytes(size, "big") + body[at + size:]


def _sa(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # proposals: last(1) res(1) len(2) num(1) proto(1) spi_size(1) n_transforms(1) spi,
    # then transforms: last(1) res(1) len(2) type(1) res(1) id(2) attributes (TV 0x800E key length)
    offsets = _substructures(body)
    if not offsets:
        return mutate_bytes(body, rng)
    start, length = rng.choice(offsets)
    op = rng.randrange(9)
    if op == 0:
        return _set(body, start + 5, 1, rng.choice((0, 1, 2, 3, 4, 255)))  # protocol
    if op == 1:
        size = rng.choice((0, 1, 4, 5, 8, 16, 255))
        spi = rng.randbytes(size) if size < 64 else b""
        old = body[start + 6] if start + 6 < len(body) else 0
        new = body[:start + 6] + bytes([size & 0xFF]) + body[start + 7:start + 8] + spi + body[start + 8 + old:]
        return _set(new, start + 2, 2, length + len(spi) - old)  # the proposal length follows the SPI
    if op == 2:
        return _set(body, start + 7, 1, rng.choice(INTERESTING_8))  # transform count
    if op == 3:
        return _set(body, start + 4, 1, rng.choice((0, 1, 2, 255)))  # proposal number
    if op == 4:
        return body[:start] + body[start:start + length] * rng.choice((2, 8, 64)) + body[start + length:]
    transforms = _transforms(body, start, length)
    if not transforms:
        return mutate_bytes(body, rng)
    t = rng.choice(transforms)
    if op == 5:
        ttype = body[t + 4] if t + 4 < len(body) else 1
        return _set(body, t + 6, 2, rng.choice(TRANSFORM_IDS.get(ttype, (0, 1, 255))))
    if op == 6:
        return _set(body, t + 4, 1, rng.choice((0, 1, 2, 3, 4, 5, 6, 255)))
    if op == 7:
        return _set(body, t + 10, 2, rng.choice((0, 64, 128, 192, 256, 257, 512, 0xFFFF)))  # key length
    return _set(body, t + 8, 2, rng.choice((0x800E, 0x000E, 0x8001, 0x0001, 0xFFFF)))  # attribute type


def _substructures(body: bytes, at: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(offset, length) of each last/length-framed substructure."""
    end = len(body) if end is None else end
    out = []
    pos = at
    while end - pos >= 8:
        length = int.from_bytes(body[pos + 2:pos + 4], "big")
        if length < 8 or pos + length > end:
            break
        out.append((pos, length))
        pos += length
    return out


def _transforms(body: bytes, start: int, length: int) -> list[int]:
    spi_size = body[start + 6] if start + 6 < len(body) else 0
    return [o for o, _ in _substructures(body, start + 8 + spi_size, start + length)]


def _ts(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # count(1) res(3), selectors: type(1) proto(1) len(2) sport(2) eport(2) start end
    op = rng.randrange(8)
    if op == 0:
        return _set(body, 0, 1, rng.choice(INTERESTING_8))
    selectors = body[4:]
    if op == 1 and len(selectors) >= 16:
        n = rng.choice((2, 16, 64, 255, 256))
        one = selectors[:16]
        return bytes([n & 0xFF]) + body[1:4] + one * n
    if op == 2:
        return _set(body, 4, 1, rng.choice((7, 8, 9, 0, 255)))  # TS type
    if op == 3:
        return _set(body, 6, 2, rng.choice((0, 8, 15, 16, 17, 40, 0xFFFF)))  # selector length
    if op == 4:
        return _set(_set(body, 8, 2, rng.choice(INTERESTING_16)), 10, 2, rng.choice(INTERESTING_16))  # ports
    if op == 5:
        return _set(body, 12, 4, rng.getrandbits(32))  # start address
    if op == 6:
        return _set(body, 16, 4, rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32))))  # end address
    return _set(body, 5, 1, rng.choice((0, 1, 6, 17, 58, 255)))  # IP protocol


def _cp(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # type(1) res(3), attributes: R|type(2) len(2) value
    op = rng.randrange(6)
    if op == 0:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 4, 255)))
    if op == 1:
        attr = rng.choice(CP_ATTRS).to_bytes(2, "big")
        size = rng.choice((0, 1, 4, 8, 16, 17, 255))
        return body + attr + size.to_bytes(2, "big") + rng.randbytes(size)
    if op == 2 and len(body) >= 8:
        return _set(body, 4, 2, rng.choice(CP_ATTRS))
    if op == 3 and len(body) >= 8:
        return _set(body, 6, 2, rng.choice((1, 3, 4, 5, 0xFFFF)))  # attribute length lie
    if op == 4:
        return body + (bytes([0, 1, 0, 0]) * rng.choice((16, 256, 2000)))  # many INTERNAL_IP4_ADDRESS
    return mutate_bytes(body, rng)


def _eap(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # code(1) identifier(1) length(2) type(1) type data
    op = rng.randrange(9)
    if op == 0:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 4, 5, 6, 255)))
    if op == 1:
        return _set(body, 1, 1, rng.randrange(256))
    if op == 2:
        return _set(body, 2, 2, rng.choice((0, 1, 4, 5, len(body) - 1, len(body) + 1, 0xFFFF)))
    if op == 3:
        return _set(body, 4, 1, rng.choice(EAP_TYPES))
    if op == 4:
        cut = rng.randint(0, len(body))
        return _set(body[:cut], 2, 2, cut) if rng.random() < 0.7 else body[:cut]
    if op == 5 and len(body) > 5:  # MSCHAPv2: opcode, MS-CHAPv2-ID, MS-Length, Value-Size
        field = rng.choice(((5, 1, (0, 1, 2, 3, 4, 5, 7, 255)), (6, 1, (0, 255)), (7, 2, INTERESTING_16),
                            (9, 1, (0, 1, 16, 48, 49, 50, 255))))
        return _set(body, field[0], field[1], rng.choice(field[2]))
    if op == 6:
        grown = body + rng.randbytes(rng.choice((1, 16, 200, 1000)))
        return _set(grown, 2, 2, len(grown))
    if op == 7 and len(body) > 5:  # MD5: Value-Size
        return _set(body, 5, 1, rng.choice((0, 1, 15, 16, 17, 255)))
    return mutate_bytes(body, rng)


def _notify(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # protocol(1) spi_size(1) type(2) spi data
    op = rng.randrange(5)
    if op == 0:
        return _set(body, 2, 2, rng.choice(NOTIFY_TYPES))
    if op == 1:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 4, 255)))
    if op == 2:
        return _set(body, 1, 1, rng.choice((0, 1, 4, 8, 255)))
    if op == 3 and words.child_spis:
        spi = rng.choice(words.child_spis)
        return bytes([3, 4]) + NotifyType.REKEY_SA.to_bytes(2, "big") + spi
    return body[:4] + mutate_bytes(body[4:], rng)


def _delete(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    # protocol(1) spi_size(1) count(2) spis
    op = rng.randrange(6)
    if op == 0:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 4, 255)))
    if op == 1:
        return _set(body, 1, 1, rng.choice((0, 1, 4, 8, 255)))
    if op == 2:
        return _set(body, 2, 2, rng.choice(INTERESTING_16))
    if op == 3:
        spis = [rng.choice(words.child_spis) if words.child_spis and rng.random() < 0.7 else rng.randbytes(4)
                for _ in range(rng.choice((1, 2, 4, 300)))]
        return bytes([3, 4]) + len(spis).to_bytes(2, "big") + b"".join(spis)
    if op == 4:
        return bytes([1, 0, 0, 0])  # delete the IKE SA
    return mutate_bytes(body, rng)


def _ke(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    if rng.random() < 0.5:
        return _set(body, 0, 2, rng.choice((0, 1, 2, 14, 15, 16, 19, 20, 21, 31, 32, 0xFFFF)))
    size = len(body) - 4
    return body[:4] + rng.choice((b"", b"\x01", bytes(size), b"\xff" * size, rng.randbytes(rng.choice((1, size, 2 * size + 1)))))


def _nonce(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 15, 16, 32, 255, 256, 257, 2000)))


def _id(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    if rng.random() < 0.5:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 5, 9, 10, 11, 12, 255)))
    return body[:4] + rng.choice((b"", b"\x00", b"alice", b"bob", b"a" * 300, rng.randbytes(16)))


def _auth(body: bytes, rng: random.Random, words: Dictionary) -> bytes:
    if rng.random() < 0.5:
        return _set(body, 0, 1, rng.choice((0, 1, 2, 3, 9, 10, 11, 14, 255)))
    return body[:4] + rng.randbytes(rng.choice((0, 1, 32, 64, 65, 1000)))


BODY_MUTATORS: dict[int, Callable[[bytes, random.Random, Dictionary], bytes]] = {
    PayloadType.SA: _sa, PayloadType.TSi: _ts, PayloadType.TSr: _ts, PayloadType.CP: _cp,
    PayloadType.EAP: _eap, PayloadType.NOTIFY: _notify, PayloadType.DELETE: _delete, PayloadType.KE: _ke,
    PayloadType.NONCE: _nonce, PayloadType.IDi: _id, PayloadType.IDr: _id, PayloadType.AUTH: _auth,
}
