"""The fuzz targets: for each, how a session's scenario is drawn and which
requests get which mutation. Every target drives real exchanges; they
differ in the level they bend and where they aim."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ikev2d.iana import EapType, ExchangeType, PayloadType

from . import framing
from .bytes_mutator import mutate_bytes
from .configs import CONFIGS
from .payload_mutator import Dictionary, join_chain, mutate_plaintext, split_chain
from .plan import Mutation, Step
from .world import Request

METHODS = (EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC)
PROBE_EXCHANGES = (ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL)
CLOCK_JUMPS = (0.5, 2.0, 5.0, 11.0, 31.0, 61.0, 3600.0, 86400.0)


def scenario(rng: random.Random, length: int, clients: int = 1) -> list[Step]:
    """Connect (any EAP method, fragmented IKE_AUTH or not, sometimes a wrong
    password), then a random walk over rekeys, deletes, DPD, probes and
    clock jumps; sometimes a second client, sometimes a reconnect."""
    steps: list[Step] = []
    for cid in range(clients):
        steps.append(_connect(rng, cid))
    for _ in range(length):
        cid = rng.randrange(clients)
        op = rng.choices(("rekey_child", "rekey_ike", "dpd", "delete_child", "probe", "clock", "delete",
                          "connect", "alien", "expire", "fail", "logoff", "half_open"),
                         (5, 3, 2, 1, 6, 4, 1, 1, 1, 1, 0.3, 0.3, 0.3))[0]
        if op == "rekey_ike":
            steps.append([op, cid, rng.random() < 0.7])
        elif op == "probe":
            steps.append([op, cid, int(rng.choice(PROBE_EXCHANGES))])
        elif op == "clock":
            steps.append([op, rng.choice(CLOCK_JUMPS), rng.random() < 0.6])
        elif op == "connect":
            steps.append(_connect(rng, cid))
        elif op == "alien":
            steps.append([op])
        elif op == "half_open":
            steps.append([op, rng.choice((3, 11, 25))])
        elif op in ("expire", "fail", "logoff"):
            # which SA (modulo what exists then); for expire, hard or soft; else answered or not
            steps.append([op, rng.randrange(64), rng.random() < 0.6])
        else:
            steps.append([op, cid])
    return steps


def _connect(rng: random.Random, cid: int) -> Step:
    # MODP only: OpenSSL makes elliptic keys from its own randomness, which would break replay
    groups = rng.choice(([15], [15], [14, 15], [16, 15]))
    return ["connect", cid, int(rng.choice(METHODS)), rng.choice((0, 1280, 1280, 400, 300)), rng.random() < 0.92,
            groups, rng.random() < 0.2]


# -- choosers: one per level, plus their mixtures --------------------------------

@dataclass
class Chooser:
    rng: random.Random
    rate: float  # share of ordinary requests mutated once the IKE SA is up
    pick: Callable[[random.Random, Request, Dictionary], Mutation | None]
    inject: float = 0.6  # share of mutations sent before the real request, which then still goes
    setup_rate: float | None = None  # IKE_SA_INIT and IKE_AUTH: lower, so sessions get past them

    def choose(self, k: int, request: Request, words: Dictionary) -> Mutation | None:
        setup = request.header.exchange in (ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH)
        rate = self.setup_rate if setup and self.setup_rate is not None else self.rate
        if not request.probe and self.rng.random() >= rate:
            return None
        m = self.pick(self.rng, request, words)
        if m is not None and not request.probe and self.rng.random() < self.inject:
            m.mode = "inject" if self.rng.random() < 0.7 else "after"
        return m


def raw_mutation(rng: random.Random, request: Request, words: Dictionary) -> Mutation:
    """Level 1: bytes of the real datagrams (or, for probes, garbage with real SPIs)."""
    corpus = [p.body for p in words.corpus[-50:]]
    if request.datagrams and rng.random() < 0.1:
        # retransmits, byte for byte: the cached answer and its limits
        out = request.datagrams * rng.choice((1, 2, 9))
    elif request.datagrams and rng.random() < 0.85:
        picked = request.datagrams if rng.random() < 0.5 else [rng.choice(request.datagrams)]
        out = [mutate_bytes(d, rng, corpus) for d in picked]
    else:
        spi = rng.choice(words.ike_spis) if words.ike_spis and rng.random() < 0.7 else rng.randbytes(8)
        head = rng.randbytes(8) + spi + bytes([rng.choice((46, 53, 33, 0)), 0x20, rng.choice((34, 35, 36, 37)),
                                               rng.choice((0x08, 0x20, 0x28, 0)), 0, 0, 0, rng.randrange(4)])
        body = rng.randbytes(rng.choice((0, 4, 40, 300)))
        out = [head + (28 + len(body)).to_bytes(4, "big") + body]
        if rng.random() < 0.2:
            out = [rng.randbytes(rng.randrange(0, 120))]
    source = ("203.0.113.9", rng.choice((500, 4500))) if rng.random() < 0.1 else None
    return Mutation("raw", datagrams=[d.hex() for d in out], source=source)


def _base_plaintext(rng: random.Random, request: Request, words: Dictionary) -> tuple[int, bytes]:
    if request.plaintext is not None and not request.probe:
        return request.first, request.plaintext
    donors = words.corpus
    if not donors:
        return request.first, request.plaintext or b""
    chosen = [rng.choice(donors) for _ in range(rng.randint(1, 5))]
    return join_chain(chosen)


def plaintext_mutation(rng: random.Random, request: Request, words: Dictionary,
                       focus: tuple[int, ...] = ()) -> Mutation | None:
    """Level 3: payload-aware mutation, sealed with the real keys."""
    if request.plaintext is None and not request.probe:
        return raw_mutation(rng, request, words)
    first, plaintext = _base_plaintext(rng, request, words)
    first, plaintext = mutate_plaintext(first, plaintext, rng, words, focus)
    fragment = rng.choice((0, 0, 0, 64, 200)) if request.header.exchange != ExchangeType.IKE_SA_INIT else 0
    return Mutation("plaintext", first=first, plaintext=plaintext.hex(), fragment=fragment)


def framing_mutation(rng: random.Random, request: Request, words: Dictionary) -> Mutation | None:
    """Level 2: the (sometimes also mutated) plaintext in bent SK/SKF framing."""
    if request.header.exchange == ExchangeType.IKE_SA_INIT or (request.plaintext is None and not request.probe):
        return raw_mutation(rng, request, words)
    first, plaintext = _base_plaintext(rng, request, words)
    if rng.random() < 0.3:
        first, plaintext = mutate_plaintext(first, plaintext, rng, words)
    spec = framing.random_framing(first, len(plaintext), rng)
    return Mutation("framing", first=first, plaintext=plaintext.hex(), framing=spec.to_json())


def eap_mutation(rng: random.Random, request: Request, words: Dictionary) -> Mutation | None:
    """Level 3 aimed at IKE_AUTH: EAP, AUTH, IDs, CP; other requests pass."""
    if request.header.exchange != ExchangeType.IKE_AUTH:
        return None
    payloads = split_chain(request.first, request.plaintext) if request.plaintext is not None else None
    if payloads and len(payloads) > 1 and rng.random() < 0.3:
        # a first IKE_AUTH without its SA, TS or CP: childless (RFC 6023), FAILED_CP_REQUIRED
        del payloads[rng.randrange(len(payloads))]
        first, plaintext = join_chain(payloads)
        return Mutation("plaintext", first=first, plaintext=plaintext.hex())
    return plaintext_mutation(rng, request, words,
                              focus=(PayloadType.EAP, PayloadType.AUTH, PayloadType.IDi, PayloadType.CP))


def mixed_mutation(rng: random.Random, request: Request, words: Dictionary) -> Mutation | None:
    pick = rng.choice((raw_mutation, framing_mutation, plaintext_mutation, plaintext_mutation))
    return pick(rng, request, words)


@dataclass(frozen=True)
class Target:
    name: str
    doc: str
    steps: tuple[int, int]  # scenario length range
    clients: tuple[int, ...]
    rate: float
    pick: Callable[[random.Random, Request, Dictionary], Mutation | None]
    setup_rate: float | None = None

    def draw(self, rng: random.Random) -> tuple[str, list[Step]]:
        config = rng.choice(CONFIGS)
        return config, scenario(rng, rng.randint(*self.steps), rng.choice(self.clients))

    def chooser(self, rng: random.Random) -> Chooser:
        return Chooser(rng, self.rate, self.pick, setup_rate=self.setup_rate)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("datagram", "level 1: byte mutations of the real datagrams, garbage with live SPIs",
           (2, 10), (1, 1, 2), 0.4, raw_mutation, 0.12),
    Target("framing", "level 2: real plaintexts in bent SK/SKF framing, re-MACed",
           (2, 10), (1,), 0.4, framing_mutation, 0.12),
    Target("plaintext", "level 3: payload-aware plaintext mutations sealed with the real keys",
           (2, 12), (1, 1, 2), 0.4, plaintext_mutation, 0.1),
    Target("eap", "level 3 on IKE_AUTH: EAP (each method), AUTH, IDs, CP",
           (0, 3), (1,), 0.6, eap_mutation),
    Target("sequence", "long stateful walks: rekeys, deletes, DPD, clock jumps, a few mutations of every level",
           (10, 40), (1, 2, 3), 0.08, mixed_mutation),
)}


