"""SK and SKF framing with faults (level 2): the real plaintext of a
request, sealed with the real keys, but with the framing bent (header and
payload lengths, next payload fields, fragment numbers and totals, IV,
padding, ICV). The ICV is computed over the bent bytes (`remac`), so the
responder judges the framing after authentication too, where a wrong
length or a missing fragment would otherwise never get past the ICV.

A `Framing` is plain data (JSON-able): a finding replays from it with the
session's keys, and shrinks by shrinking its plaintext."""

from __future__ import annotations

import random
import struct
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ikev2d.protect import SkKeys
from ikev2d.wire.header import HEADER_SIZE, Header

SK, SKF = 46, 53


@dataclass(frozen=True)
class Route:
    spi_i: bytes
    spi_r: bytes
    exchange: int
    flags: int
    message_id: int


@dataclass
class Fragment:
    """One SKF (or, with number 0, the single SK) datagram to send."""

    start: int  # plaintext slice
    end: int
    number: int
    total: int
    inner_next: int


@dataclass
class Framing:
    pieces: list[Fragment]
    hdr_len_delta: int = 0
    pl_len_delta: int = 0
    icv_cut: int = 0
    iv_cut: int = 0
    pad_len: int | None = None
    unaligned: int = 0  # ciphertext octets added, so it is not whole blocks
    leading: list[tuple[int, str]] = field(default_factory=list)  # (type, hex body) before SK/SKF
    remac: bool = True
    flags_xor: int = 0
    exchange: int | None = None
    msgid_delta: int = 0
    tail: int = 0  # octets after the ICV

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Framing":
        values = dict(data)
        values["pieces"] = [Fragment(**p) for p in data["pieces"]]
        values["leading"] = [tuple(x) for x in data["leading"]]
        return cls(**values)


def random_framing(first: int, size: int, rng: random.Random) -> Framing:
    """Correct framing (SK, or SKF in 1 to 8 pieces), then one to three faults."""
    count = rng.choice((0, 0, 1, 2, 3, 8))
    pieces: list[Fragment] = []
    if count == 0:
        pieces.append(Fragment(0, size, 0, 0, first))
    else:
        bounds = sorted({0, size, *(rng.randint(0, size) for _ in range(count - 1))})
        total = len(bounds) - 1 or 1
        for n in range(total):
            pieces.append(Fragment(bounds[n], bounds[n + 1] if n + 1 < len(bounds) else size, n + 1, total,
                                   first if n == 0 else 0))
    f = Framing(pieces)
    for _ in range(rng.choice((1, 1, 2, 3))):
        _fault(f, first, rng)
    return f


def _fault(f: Framing, first: int, rng: random.Random) -> None:
    op = rng.randrange(14)
    p = rng.choice(f.pieces)
    if op == 0:
        f.hdr_len_delta = rng.choice((-28, -4, -1, 1, 4, 1000))
    elif op == 1:
        f.pl_len_delta = rng.choice((-4, -1, 1, 4, 16, -1000))
    elif op == 2:
        f.icv_cut = rng.choice((1, 4, 16, 32, 1000))
    elif op == 3:
        f.iv_cut = rng.choice((1, 8, 16))
    elif op == 4:
        f.pad_len = rng.choice((0, 15, 16, 255))
    elif op == 5:
        f.unaligned = rng.choice((1, 3, 15))
    elif op == 6:
        f.leading.append((rng.choice((41, 43, 42, 48, 33, 200)), rng.randbytes(rng.choice((0, 4, 8))).hex()))
    elif op == 7:
        f.remac = False
    elif op == 8:
        f.flags_xor = rng.choice((0x20, 0x08, 0x28, 0x01, 0x80))
    elif op == 9:
        f.exchange = rng.choice((34, 35, 36, 37, 0, 255))
    elif op == 10:
        f.tail = rng.choice((1, 4, 64))
    elif op == 11:  # fragment numbering
        p.number, p.total = rng.choice(((0, p.total), (p.total + 1, p.total), (p.number, 0), (p.number, 1),
                                        (p.number, p.total + 1), (1, 0xFFFF), (p.number, 65), (2, 2)))
        if p.number == 0:
            p.number = 0xFFFF if rng.random() < 0.5 else 0
    elif op == 12:
        p.inner_next = rng.choice((0, first, 41, 48, 255)) if p.number <= 1 else rng.choice((first, 41, 255))
    else:  # duplicate or drop a piece, or send them out of order
        choice = rng.randrange(3)
        if choice == 0:
            f.pieces.insert(rng.randint(0, len(f.pieces)), Fragment(**asdict(p)))
        elif choice == 1 and len(f.pieces) > 1:
            f.pieces.remove(p)
        else:
            rng.shuffle(f.pieces)


def build(route: Route, plaintext: bytes, keys: SkKeys, f: Framing, random: Callable[[int], bytes]) -> list[bytes]:
    """The datagrams `f` describes, sealed with keys.sk_*_out."""
    return [_seal(route, plaintext[p.start:p.end], p, keys, f, random) for p in f.pieces]


def _seal(route: Route, chunk: bytes, piece: Fragment, keys: SkKeys, f: Framing,
          random: Callable[[int], bytes]) -> bytes:
    encr = keys.encr
    block = encr.block_size
    pad = 1 + (-(len(chunk) + 1)) % block
    pad_byte = pad - 1 if f.pad_len is None else f.pad_len
    padded = chunk + bytes(pad - 1) + bytes([pad_byte])
    iv = random(encr.iv_size)
    fragment = piece.number != 0 or piece.total != 0
    # 16-bit fields: a fault may push a number past 0xFFFF, which wraps as it would on the wire
    extra = struct.pack("!HH", piece.number & 0xFFFF, piece.total & 0xFFFF) if fragment else b""
    leading = b""
    kinds = [t for t, _ in f.leading] + [SKF if fragment else SK]
    for i, (_t, body_hex) in enumerate(f.leading):
        body = bytes.fromhex(body_hex)
        leading += struct.pack("!BBH", kinds[i + 1], 0, 4 + len(body)) + body
    sent_iv = iv[:max(0, len(iv) - f.iv_cut)]
    if keys.integ is None:
        sealed = encr.encrypt(keys.sk_e_out, iv, padded, b"")  # AAD below needs the head: sized first
        icv_sent = 0
    else:
        sealed = encr.encrypt(keys.sk_e_out, iv, padded)
        icv_sent = max(0, keys.icv_size - f.icv_cut)
    cut = f.icv_cut if keys.integ is None else 0
    # every length describes the octets really sent; the deltas are the lies
    body_len = 4 + len(extra) + len(sent_iv) + len(sealed) - cut + f.unaligned + icv_sent + f.tail
    payload_length = (body_len + f.pl_len_delta) & 0xFFFF
    length = (HEADER_SIZE + len(leading) + body_len + f.hdr_len_delta) & 0xFFFFFFFF
    head = Header(route.spi_i, route.spi_r, kinds[0], route.exchange if f.exchange is None else f.exchange,
                  route.flags ^ f.flags_xor, (route.message_id + f.msgid_delta) & 0xFFFFFFFF, length).pack()
    head += leading + struct.pack("!BBH", piece.inner_next & 0xFF, 0, payload_length) + extra
    if keys.integ is None:
        # RFC 5282 §5.1: the AAD is everything before the IV
        sealed = encr.encrypt(keys.sk_e_out, iv, padded, head if f.remac else b"")
        return head + sent_iv + sealed[:len(sealed) - cut] + bytes(f.unaligned + f.tail)
    signed = head + sent_iv + sealed + bytes(f.unaligned)
    icv = keys.integ.mac(keys.sk_a_out, signed) if f.remac else bytes(keys.icv_size)
    return signed + icv[:icv_sent] + bytes(f.tail)
