"""One fuzz session: a fresh responder, the clients a plan's steps start,
a clock, and every call into the core checked by the oracles.

Determinism: the responder's randomness (SPIs, nonces, IVs), the clients'
and both sides' DH exponents come from one `random.Random(seed)`; the
mutations come from the plan (recorded, or chosen by a `Chooser` with its
own generator). So a plan replays the same bytes, run after run."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import struct
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from ikev2d.core import Responder, settle
from ikev2d.crypto import ffdh
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Effect, SendDatagram
from ikev2d.iana import ExchangeType, ProtocolId
from ikev2d.protect import SkKeys
from ikev2d.protect.sk import Route as SealRoute, locate_encrypted, open_sealed, seal
from ikev2d.settings import ResponderSettings
from ikev2d.wire.header import HEADER_SIZE, Header
from ikev2d.wire.payloads import Delete
from lab.initiator import Initiator, InitiatorOptions

from . import framing, oracles
from .oracles import Finding
from .payload_mutator import Dictionary, Raw, split_chain
from .plan import Mutation, Plan

Address = tuple[str, int]
GATEWAY: Address = ("198.18.0.1", 500)
SK, SKF = 46, 53
CORPUS_LIMIT = 300


def client_address(cid: int) -> Address:
    return (f"198.18.0.{10 + cid}", 500)


class ResponderCrash(Exception):
    """An oracle fired: the session stops here (never caught as a client error)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.line())
        self.finding = finding


@dataclass
class Request:
    """A request a client is about to send (all fragments of it), as a chooser sees it."""

    datagrams: list[bytes]
    header: Header
    first: int  # first inner payload (IKE_SA_INIT: first payload)
    plaintext: bytes | None  # None if it could not be opened
    probe: bool  # a forced mutation: the base request is only a carrier
    source: Address


class Chooser(Protocol):
    def choose(self, k: int, request: Request, words: Dictionary) -> Mutation | None: ...


@contextlib.contextmanager
def seeded_dh(rng: random.Random) -> Iterator[None]:
    """Both sides' MODP exponents from `rng` (gmpy2 backend), for replay."""
    original = ffdh._random_exponent

    def seeded(bits: int, below: int | None = None) -> int:
        return rng.randrange(2, below) if below is not None else rng.getrandbits(bits) | 2

    ffdh._random_exponent = seeded
    try:
        yield
    finally:
        ffdh._random_exponent = original


def responder_view(keys: SkKeys) -> SkKeys:
    """The keys that open what the holder of `keys` sends."""
    return SkKeys(keys.encr, keys.integ, keys.sk_e_out, keys.sk_a_out, keys.sk_e_in, keys.sk_a_in)


def crash_signature(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/ikev2d/" in f.filename]
    where = f"{frames[-1].filename.rsplit('/ikev2d/', 1)[-1]}:{frames[-1].name}" if frames else "?"
    return f"{type(exc).__name__}@{where}"


class World:
    def __init__(self, settings: ResponderSettings, plan: Plan, chooser: Chooser | None = None,
                 measure: int | None = None) -> None:
        self.plan = plan
        self.chooser = chooser  # None: replay the plan's mutations only
        self.rng = random.Random(plan.seed)
        self.responder = Responder(settings, random=self.rng.randbytes)
        self.worker = CryptoWorker(settings.signing_keys)
        self.now = 1000.0
        self.clients: dict[int, Initiator] = {}
        self.broken: set[int] = set()
        # clients whose requests were bent: their own idea of the keys of a
        # later IKE SA (a rekey) may be wrong, so it no longer counts as the truth
        self.tainted: set[int] = set()
        self.installed: dict[int, object] = {}
        self.keys: dict[tuple[bytes, bytes], SkKeys] = {}  # the peer's view, to open what we send
        self.hosts_sessions: Counter[str] = Counter()
        self.index = 0  # requests (or probes) so far: the keys of plan.mutations
        self.inputs = 0  # calls into the core so far
        self.mutated = 0
        self.measure = measure  # time only this input (slow-input confirmation)
        self.measured: float | None = None
        self.slow: list[tuple[int, float]] = []
        self.max_cpu = 0.0  # the slowest input of the session, slow or not
        self.corpus: list[Raw] = []
        self._fragments: list[bytes] = []
        self._probing = False
        self.transcript = hashlib.sha256()  # every input and output: equal digests, equal sessions

    # -- the core, checked ----------------------------------------------------

    def deliver(self, datagram: bytes, source: Address) -> list[bytes]:
        try:
            request: Header | None = Header.parse(datagram)
        except Exception:  # noqa: BLE001 - only used to judge the answer
            request = None
        before = oracles.sa_states(self.responder)
        self.transcript.update(datagram)
        proven = request is not None and (request.exchange == ExchangeType.IKE_SA_INIT
                                          or oracles.authentic(self.responder, datagram))
        sent = self._checked(lambda: self.responder.datagram_received(datagram, GATEWAY, source, self.now),
                             before, request)
        if sent and not proven:
            raise ResponderCrash(Finding("unauthenticated-answer",
                                         f"{len(sent)} datagram(s) sent for a datagram that fails the ICV",
                                         "unauthenticated-answer"))
        return sent

    def tick(self, dt: float, answer: bool) -> None:
        """Time passes; what the responder asks (DPD, Delete), clients answer or not."""
        self.now += dt
        before = oracles.sa_states(self.responder)
        sent = self._checked(lambda: self.responder.handle_timer(self.now), before, None)
        if not answer:
            return
        for raw in sent:
            header = Header.parse(raw)
            for cid, client in self.clients.items():
                if cid not in self.broken and (client.spi_i, client.spi_r) == (header.spi_i, header.spi_r):
                    try:
                        responses = client.answer(raw)
                    except ResponderCrash:
                        raise
                    except Exception:  # noqa: BLE001 - the client gave up, not our finding
                        self.broken.add(cid)
                        continue
                    if responses:  # our answers, bent like any request: handle_response's turn
                        self._request(client, responses, Header.parse(responses[0]), client_address(cid))

    def drain(self) -> None:
        """Nobody answers any more: run every timer until none is left; then nothing may remain."""
        for _ in range(500):
            deadline = self.responder.get_timer()
            if deadline is None:
                break
            self.tick(max(0.0, deadline - self.now) + 0.001, answer=False)
        problems = oracles.check_drained(self.responder, self.installed)
        if problems:
            raise ResponderCrash(Finding("leak", problems[0], "leak:" + problems[0].split(" ")[-1]))

    def _checked(self, call: Callable[[], list[Effect]], before: dict, request: Header | None) -> list[bytes]:
        n = self.inputs
        self.inputs += 1
        start = time.process_time()
        try:
            effects = settle(self.responder, call(), self.worker, self.now)
        except Exception as exc:  # noqa: BLE001 - any exception out of the core is the finding
            detail = "".join(traceback.format_exception(exc)[-6:]).strip()
            raise ResponderCrash(Finding("crash", detail, "crash:" + crash_signature(exc))) from exc
        cpu = time.process_time() - start
        for e in effects:
            if isinstance(e, SendDatagram):
                self.transcript.update(e.data)
        if n == self.measure:
            self.measured = cpu
        self.max_cpu = max(self.max_cpu, cpu)
        if cpu > oracles.SLOW_SECONDS:
            self.slow.append((n, cpu))
        for kind, problems in (
            ("install-before-auth", oracles.check_install(self.responder, effects, before, self.installed)),
            ("unparseable", oracles.check_responses(effects, request, self.peer_keys)),
            ("unbounded", oracles.check_bounds(self.responder, self.hosts_sessions)),
        ):
            if problems:
                raise ResponderCrash(Finding(kind, problems[0], f"{kind}:{_shape(problems[0])}"))
        sent = [e.data for e in effects if isinstance(e, SendDatagram)]
        if self.chooser is not None:
            for raw in sent:
                self._learn_sent(raw)
        return sent

    def _learn_sent(self, raw: bytes) -> None:
        """Our own payloads (EAP requests, CERT, AUTH, SA answers) as splice donors."""
        header = Header.parse(raw)
        if header.exchange == ExchangeType.IKE_SA_INIT:
            self._learn(header.next_payload, raw[HEADER_SIZE:])
            return
        keys = self.peer_keys(header.spi_i, header.spi_r)
        if keys is None or header.next_payload != SK:
            return
        try:
            at, _ = locate_encrypted(raw, header.next_payload)
            self._learn(raw[at], open_sealed(raw, at + 4, keys))
        except Exception:  # noqa: BLE001 - the oracles judge our output; here it is only material
            return

    def peer_keys(self, spi_i: bytes, spi_r: bytes) -> SkKeys | None:
        """The keys a peer opens our messages on that SA with: the client's
        own (derived independently), else those of the SA we hold."""
        keys = self.keys.get((spi_i, spi_r))
        if keys is not None:
            return keys
        sa = self.responder.sas.get(spi_r)
        return responder_view(sa.sk) if sa is not None and sa.spi_i == spi_i else None

    def _register(self, cid: int) -> None:
        client = self.clients[cid]
        if hasattr(client, "sk") and cid not in self.tainted:
            self.keys[(client.spi_i, client.spi_r)] = client.sk

    # -- clients ----------------------------------------------------------------

    def send_for(self, cid: int) -> Callable[[bytes], list[bytes]]:
        def send(datagram: bytes) -> list[bytes]:
            client = self.clients[cid]
            self._register(cid)
            header = Header.parse(datagram)
            if header.next_payload == SKF and len(datagram) >= 36:
                number, total = struct.unpack_from("!HH", datagram, 32)
                self._fragments.append(datagram)
                if number < total:
                    return []  # the whole request goes out with its last fragment
                datagrams, self._fragments = self._fragments, []
            else:
                datagrams = [datagram]
            return self._request(client, datagrams, header, client_address(cid))
        return send

    def _request(self, client: Initiator, datagrams: list[bytes], header: Header, source: Address) -> list[bytes]:
        k = self.index
        self.index += 1
        mutation = self.plan.mutations.get(k)
        if mutation is None and self.chooser is not None:
            first, plaintext = self._open(client, datagrams, header)
            words = self.dictionary()
            if plaintext is not None:
                self._learn(first, plaintext)
            mutation = self.chooser.choose(k, Request(datagrams, header, first, plaintext, self._probing, source),
                                           words)
            if mutation is not None:
                self.plan.mutations[k] = mutation
        if mutation is None:
            return self._deliver_all(datagrams, source)
        self.mutated += 1
        bent = self._realize(mutation, client, header)
        if mutation.mode == "inject":
            self._deliver_all(bent, mutation.source or source)
            return self._deliver_all(datagrams, source)
        if mutation.mode == "after":  # the real request answered first: the bent one meets the new state
            answers = self._deliver_all(datagrams, source)
            self._deliver_all(bent, mutation.source or source)
            return answers
        return self._deliver_all(bent, mutation.source or source)

    def _deliver_all(self, datagrams: list[bytes], source: Address) -> list[bytes]:
        out: list[bytes] = []
        for d in datagrams:
            out += self.deliver(d, source)
        return out

    def _open(self, client: Initiator, datagrams: list[bytes], header: Header) -> tuple[int, bytes | None]:
        if header.exchange == ExchangeType.IKE_SA_INIT:
            return header.next_payload, datagrams[0][HEADER_SIZE:]
        if not hasattr(client, "sk"):
            return 0, None
        view = responder_view(client.sk)
        first, parts = 0, []
        try:
            for raw in datagrams:
                at, ptype = locate_encrypted(raw, Header.parse(raw).next_payload)
                extra = 4 if ptype == SKF else 0
                if not first:
                    first = raw[at]
                parts.append(open_sealed(raw, at + 4 + extra, view))
        except Exception:  # noqa: BLE001 - a carrier we cannot open is mutated as bytes only
            return 0, None
        return first, b"".join(parts)

    def _realize(self, m: Mutation, client: Initiator, header: Header) -> list[bytes]:
        if m.level == "raw":
            return [bytes.fromhex(d) for d in m.datagrams]
        plaintext = bytes.fromhex(m.plaintext)
        if header.exchange == ExchangeType.IKE_SA_INIT or not hasattr(client, "sk"):
            body = Header(header.spi_i, header.spi_r, m.first & 0xFF, header.exchange, header.flags,
                          header.message_id, HEADER_SIZE + len(plaintext)).pack()
            return [body + plaintext]
        route = framing.Route(header.spi_i, header.spi_r, header.exchange, header.flags, header.message_id)
        if m.level == "framing" and m.framing is not None:
            return framing.build(route, plaintext, client.sk, framing.Framing.from_json(m.framing),
                                 self.rng.randbytes)
        if m.fragment:
            pieces = [plaintext[i:i + m.fragment] for i in range(0, len(plaintext), m.fragment)] or [b""]
            spec = framing.Framing([framing.Fragment(i * m.fragment, (i + 1) * m.fragment, i + 1, len(pieces),
                                                     m.first if i == 0 else 0) for i in range(len(pieces))])
            return framing.build(route, plaintext, client.sk, spec, self.rng.randbytes)
        seal_route = SealRoute(header.spi_i, header.spi_r, header.exchange, header.message_id,
                               header.is_response, header.is_initiator)
        return [seal(seal_route, SK, m.first & 0xFF, b"", plaintext, client.sk, self.rng.randbytes)]

    def _learn(self, first: int, plaintext: bytes) -> None:
        for p in split_chain(first, plaintext) or []:
            if len(self.corpus) >= CORPUS_LIMIT:
                self.corpus[self.rng_corpus_slot()] = p
            else:
                self.corpus.append(p)

    def rng_corpus_slot(self) -> int:
        return self.inputs % CORPUS_LIMIT  # not the world's generator: replay must not depend on it

    def dictionary(self) -> Dictionary:
        spis = [c.spec.spi_in.to_bytes(4, "big") for sa in self.responder.sas.values() for c in sa.children]
        spis += [c.spec.spi_out.to_bytes(4, "big") for sa in self.responder.sas.values() for c in sa.children]
        return Dictionary(spis, list(self.responder.sas), self.corpus)

    # -- steps ------------------------------------------------------------------

    def run(self) -> Finding | None:
        """Every step of the plan, then the drain; the first finding, if any."""
        try:
            with seeded_dh(self.rng):
                for step in self.plan.steps:
                    self.step(step)
                    if self.measure is not None and self.measured is not None:
                        return None
                self.drain()
        except ResponderCrash as crash:
            return crash.finding
        return None

    def step(self, step: list) -> None:
        op = step[0]
        if op == "clock":
            self.tick(float(step[1]), bool(step[2]))
            return
        if op == "alien":
            self._alien()
            return
        if op == "half_open":
            self._half_open(int(step[1]))
            return
        if op in ("expire", "fail", "logoff"):
            self._adapter(op, int(step[1]), bool(step[2]))
            return
        cid = int(step[1])
        if op == "connect":
            _, _, method, fragment_size, good, groups, fake_nat = step
            options = InitiatorOptions(local=client_address(cid), remote=GATEWAY, eap_method=method,
                                       dh_groups=list(groups), fake_nat=bool(fake_nat),
                                       fragment_size=fragment_size, fragmentation=fragment_size > 0,
                                       username="alice" if cid % 2 == 0 else "bob",
                                       password=("Lab-Passw0rd-1" if cid % 2 == 0 else "Lab-Passw0rd-2")
                                       if good else "wrong")
            self.clients[cid] = Initiator(options, self.send_for(cid), random=self.rng.randbytes)
            self.broken.discard(cid)
            self.tainted.discard(cid)
            self.hosts_sessions[client_address(cid)[0]] += 1
            self._client_op(cid, lambda c: c.connect())
            return
        if cid not in self.clients or cid in self.broken:
            return
        ops: dict[str, Callable[[Initiator], object]] = {
            "rekey_child": lambda c: c.rekey_child(),
            "rekey_ike": lambda c: c.rekey_ike(delete_old=bool(step[2])),
            "dpd": lambda c: c.exchange(ExchangeType.INFORMATIONAL, []),
            "delete_child": lambda c: c.exchange(ExchangeType.INFORMATIONAL,
                                                 [Delete(ProtocolId.ESP, [c.esp_spi.to_bytes(4, "big")])]),
            "delete": lambda c: c.delete(),
            "probe": lambda c: self._probe(c, int(step[2])),
        }
        self._client_op(cid, ops[op])
        if op == "delete":
            self.broken.add(cid)

    def _client_op(self, cid: int, op: Callable[[Initiator], object]) -> None:
        client = self.clients[cid]
        bent = self.mutated
        try:
            op(client)
        except ResponderCrash:
            raise
        except Exception:  # noqa: BLE001 - a client refused or confused is a normal outcome here
            self._fragments = []
            if not hasattr(client, "sk"):
                self.broken.add(cid)
        self._resync(client)
        if self.mutated != bent:
            self.tainted.add(cid)
        self._register(cid)

    def _resync(self, client: Initiator) -> None:
        # after a refused or unanswered request the client's message ID may
        # run ahead of ours: take the responder's, as a retransmitting client would
        sa = self.responder.sas.get(client.spi_r)
        if sa is not None and hasattr(client, "sk"):
            client.message_id = sa.tasks.next_request_id

    def _probe(self, client: Initiator, exchange: int) -> None:
        """A forced mutation of a carrier request at the current message ID."""
        if not hasattr(client, "sk"):
            return
        self._probing = True
        try:
            client.exchange_plaintext(exchange, 0, b"")
        finally:
            self._probing = False

    def _half_open(self, count: int) -> None:
        """IKE_SA_INITs from one host, never followed by IKE_AUTH: the
        half-open limits, per address and in all."""
        host = "198.18.0.99"
        self.hosts_sessions[host] += 0  # no sessions: only half-open SAs may stay
        for i in range(count):
            source = (host, 1024 + i)
            options = InitiatorOptions(local=source, remote=GATEWAY)
            client = Initiator(options, functools.partial(self.deliver, source=source), random=self.rng.randbytes)
            try:
                client.ike_sa_init()
            except ResponderCrash:
                raise
            except Exception:  # noqa: BLE001 - refused: what the limits are for
                pass

    def _adapter(self, op: str, pick: int, hard: bool) -> None:
        """What the daemon around the core reports: a Child SA's lifetime ran
        out, the data plane refused one, an administrator logs a session off.
        Our own requests then cross the client's."""
        spis = sorted(self.installed)
        sas = sorted(self.responder.sas.values(), key=lambda sa: sa.unique_id)
        before = oracles.sa_states(self.responder)
        if op == "logoff" and sas:
            sa = sas[pick % len(sas)]
            sent = self._checked(lambda: self.responder.delete_ike_sa(sa, "Administrator Reset", self.now), before,
                                 None)
        elif op in ("expire", "fail") and spis:
            spi = spis[pick % len(spis)]
            if op == "expire":
                sent = self._checked(lambda: self.responder.child_sa_expired(spi, hard, self.now), before, None)
            else:
                sent = self._checked(lambda: self.responder.child_sa_failed(spi, "fuzz", self.now), before, None)
        else:
            return
        for raw in sent:  # the client answers, as it would, while its own work goes on
            header = Header.parse(raw)
            for cid, client in self.clients.items():
                if cid not in self.broken and (client.spi_i, client.spi_r) == (header.spi_i, header.spi_r):
                    try:
                        responses = client.answer(raw)
                    except Exception:  # noqa: BLE001 - the client gave up
                        self.broken.add(cid)
                        continue
                    if responses and hard:
                        self._request(client, responses, Header.parse(responses[0]), client_address(cid))

    def _alien(self) -> None:
        """Datagrams from somewhere else: the chooser makes them up."""
        if self.chooser is None and self.index not in self.plan.mutations:
            self.index += 1
            return
        k = self.index
        self.index += 1
        mutation = self.plan.mutations.get(k)
        if mutation is None and self.chooser is not None:
            carrier = Header(bytes(8), bytes(8), 0, 0, 0, 0, HEADER_SIZE)
            mutation = self.chooser.choose(k, Request([], carrier, 0, None, True, ("203.0.113.9", 500)),
                                           self.dictionary())
            if mutation is not None:
                self.plan.mutations[k] = mutation
        if mutation is None:
            return
        self.mutated += 1
        for d in mutation.datagrams:
            self.deliver(bytes.fromhex(d), mutation.source or ("203.0.113.9", 500))


def _shape(problem: str) -> str:
    """A problem text without its numbers: the same finding with other SPIs."""
    return "".join("#" if ch.isdigit() else ch for ch in problem)[:80]
