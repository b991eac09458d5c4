"""Security policies: add (with tunnel templates), delete, read back, list."""

from __future__ import annotations

import errno
import ipaddress

from pyroute2.netlink import nlmsg

from . import consts as c
from .messages import xfrm_userpolicy_id, xfrm_userpolicy_info
from .model import PolicyParams, PolicyState, Selector, Template
from .netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NetlinkChannel, NetlinkError
from .structs import address_text


def newpolicy_message(p: PolicyParams) -> xfrm_userpolicy_info:
    msg = xfrm_userpolicy_info()
    values: dict[str, object] = {**p.selector.fields(), "priority": p.priority, "dir": p.direction,
                                 "action": p.action, "share": c.XFRM_SHARE_ANY}
    values.update({f"lft_{k}": c.XFRM_INF for k in ("soft_byte_limit", "hard_byte_limit",
                                                    "soft_packet_limit", "hard_packet_limit")})
    for key, value in values.items():
        msg[key] = value
    if p.templates:
        msg["attrs"] = [("XFRMA_TMPL", {"templates": [t.fields() for t in p.templates]})]
    return msg


def add_policy(nl: NetlinkChannel, p: PolicyParams, update: bool = False) -> None:
    """NEWPOLICY; or UPDPOLICY, which replaces the templates of the policy
    with the same selector and direction (its peer moved)."""
    if update:
        nl.request(newpolicy_message(p), c.XFRM_MSG_UPDPOLICY, NLM_F_ACK | NLM_F_CREATE)
    else:
        nl.request(newpolicy_message(p), c.XFRM_MSG_NEWPOLICY, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)


def policy_id_message(selector: Selector, direction: int) -> xfrm_userpolicy_id:
    msg = xfrm_userpolicy_id()
    for key, value in selector.fields().items():
        msg[key] = value
    msg["dir"] = direction
    return msg


def delete_policy(nl: NetlinkChannel, selector: Selector, direction: int) -> bool:
    """DELPOLICY by selector and direction; False when there was none."""
    try:
        nl.request(policy_id_message(selector, direction), c.XFRM_MSG_DELPOLICY)
    except NetlinkError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def get_policy(nl: NetlinkChannel, selector: Selector, direction: int) -> PolicyState | None:
    try:
        answer = nl.request(policy_id_message(selector, direction), c.XFRM_MSG_GETPOLICY)
    except NetlinkError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    found = [parse_policy(m) for m in answer if isinstance(m, xfrm_userpolicy_info)]
    return found[0] if found else None


def dump_policies(nl: NetlinkChannel) -> list[PolicyState]:
    return [parse_policy(m) for m in nl.dump(xfrm_userpolicy_id(), c.XFRM_MSG_GETPOLICY)
            if isinstance(m, xfrm_userpolicy_info)]


def parse_selector(msg: nlmsg, prefix: str = "sel_") -> Selector:
    family = int(msg[prefix + "family"]) or c.AF_INET
    src = address_text(msg[prefix + "saddr"], family)
    dst = address_text(msg[prefix + "daddr"], family)
    return Selector(
        src=ipaddress.ip_network(f"{src}/{int(msg[prefix + 'prefixlen_s'])}", strict=False),
        dst=ipaddress.ip_network(f"{dst}/{int(msg[prefix + 'prefixlen_d'])}", strict=False),
        proto=int(msg[prefix + "proto"]),
        sport=int(msg[prefix + "sport"]),
        dport=int(msg[prefix + "dport"]),
    )


def parse_policy(msg: nlmsg) -> PolicyState:
    tmpl_attr = msg.get_attr("XFRMA_TMPL")
    templates: list[Template] = []
    for t in (tmpl_attr["templates"] if tmpl_attr is not None else []):
        family = int(t["family"]) or int(msg["sel_family"]) or c.AF_INET
        templates.append(Template(src=address_text(t["saddr"], family), dst=address_text(t["id_daddr"], family),
                                  reqid=int(t["reqid"]), mode=int(t["mode"]), proto=int(t["id_proto"]),
                                  spi=int(t["id_spi"])))
    return PolicyState(
        selector=parse_selector(msg),
        direction=int(msg["dir"]),
        index=int(msg["index"]),
        priority=int(msg["priority"]),
        action=int(msg["action"]),
        templates=tuple(templates),
    )
