"""Shrinking a finding: fewer steps, fewer mutations, fewer payloads and
octets, as long as a replay still gives a finding with the same signature."""

from __future__ import annotations

from typing import Callable

from .oracles import Finding
from .payload_mutator import join_chain, split_chain
from .plan import Mutation, Plan
from .replay import run_plan

MAX_REPLAYS = 400


class _Budget:
    def __init__(self, plan: Plan, finding: Finding) -> None:
        self.signature = finding.signature
        self.left = MAX_REPLAYS

    def same(self, candidate: Plan) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        found, _ = run_plan(candidate.copy())
        return found is not None and found.signature == self.signature


def shrink(plan: Plan, finding: Finding) -> Plan:
    budget = _Budget(plan, finding)
    plan = plan.copy()
    # trailing steps first: the session stops at the finding anyway
    while len(plan.steps) > 1:
        candidate = plan.copy()
        candidate.steps = candidate.steps[:-1]
        if not budget.same(candidate):
            break
        plan = candidate
    for k in sorted(plan.mutations, reverse=True):
        candidate = plan.copy()
        del candidate.mutations[k]
        if budget.same(candidate):
            plan = candidate
    for k in sorted(plan.mutations):
        plan = _shrink_mutation(plan, k, budget)
    return plan


def _shrink_mutation(plan: Plan, k: int, budget: _Budget) -> Plan:
    m = plan.mutations[k]

    def with_mutation(new: Mutation) -> Plan:
        candidate = plan.copy()
        candidate.mutations[k] = new
        return candidate

    if m.mode == "inject":
        candidate = with_mutation(Mutation(**{**m.__dict__, "mode": "replace"}))
        if budget.same(candidate):
            plan, m = candidate, candidate.mutations[k]
    if m.level == "raw":
        for i in range(len(m.datagrams)):
            def ok_raw(data: bytes, i: int = i) -> bool:
                datagrams = list(plan.mutations[k].datagrams)
                datagrams[i] = data.hex()
                return budget.same(with_mutation(Mutation(**{**plan.mutations[k].__dict__, "datagrams": datagrams})))
            best = shrink_bytes(bytes.fromhex(m.datagrams[i]), ok_raw)
            datagrams = list(plan.mutations[k].datagrams)
            datagrams[i] = best.hex()
            plan = with_mutation(Mutation(**{**plan.mutations[k].__dict__, "datagrams": datagrams}))
        return plan
    if m.level == "framing":
        return plan  # the framing spec indexes into the plaintext: kept as found

    def ok_plain(first: int, data: bytes) -> bool:
        return budget.same(with_mutation(Mutation(**{**plan.mutations[k].__dict__, "first": first,
                                                     "plaintext": data.hex()})))

    first, data = m.first, bytes.fromhex(m.plaintext)
    payloads = split_chain(first, data)
    if payloads is not None:
        i = 0
        while i < len(payloads):  # whole payloads
            rest = payloads[:i] + payloads[i + 1:]
            if ok_plain(*join_chain(rest)):
                payloads = rest
            else:
                i += 1
        for p in payloads:  # then octets of each body, lengths kept right
            def ok_body(body: bytes, p: object = p) -> bool:
                old = p.body  # type: ignore[attr-defined]
                p.body = body  # type: ignore[attr-defined]
                good = ok_plain(*join_chain(payloads))
                p.body = old  # type: ignore[attr-defined]
                return good
            p.body = shrink_bytes(p.body, ok_body)
        first, data = join_chain(payloads)
    else:
        data = shrink_bytes(data, lambda d: ok_plain(first, d))
    return with_mutation(Mutation(**{**plan.mutations[k].__dict__, "first": first, "plaintext": data.hex()}))


def shrink_bytes(data: bytes, ok: Callable[[bytes], bool]) -> bytes:
    """Remove chunks, halving their size, while `ok` still holds."""
    chunk = max(1, len(data) // 2)
    while True:
        i = 0
        while i < len(data):
            candidate = data[:i] + data[i + chunk:]
            if ok(candidate):
                data = candidate
            else:
                i += chunk
        if chunk == 1:
            return data
        chunk //= 2
