"""ESP states: add, delete, read back, allocate an SPI, list.

Every call takes a NetlinkChannel on NETLINK_XFRM; errors come back as
NetlinkError (errno and the kernel's extended-ack text).
"""

from __future__ import annotations

import errno
from typing import Any

from pyroute2.netlink import nlmsg

from . import consts as c
from .messages import xfrm_usersa_id, xfrm_usersa_info, xfrm_userspi_info
from .model import Encap, Lifetime, SaCurrent, SaParams, SaState, family_of
from .netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NetlinkChannel, NetlinkError
from .structs import address_text


def usersa_info_fields(p: SaParams, prefix: str = "") -> dict[str, object]:
    """The xfrm_usersa_info fields of `p` (prefix for the one inside userspi_info)."""
    values: dict[str, object] = {
        "id_daddr": p.dst,
        "id_spi": p.spi,
        "id_proto": c.IPPROTO_ESP,
        "saddr": p.src,
        "reqid": p.reqid,
        "family": p.family,
        "mode": p.mode,
        # the legacy field holds at most 32; a bigger window (or ESN) goes in
        # XFRMA_REPLAY_ESN_VAL, and then the kernel wants this one zero
        "replay_window": 0 if uses_esn_attr(p) else p.replay_window,
        "flags": 0,
    }
    values.update(p.lifetime.fields())
    flags = 0
    if p.selector is not None:
        values.update(p.selector.fields())
    else:
        flags = c.XFRM_STATE_AF_UNSPEC  # tunnel mode: the policies select
    if p.esn:
        flags |= c.XFRM_STATE_ESN
    values["flags"] = flags
    return {prefix + k: v for k, v in values.items()}


def uses_esn_attr(p: SaParams) -> bool:
    """As strongSwan does: the bitmap replay state for ESN or windows over 32."""
    return p.esn or p.replay_window > 32


def newsa_message(p: SaParams) -> xfrm_usersa_info:
    msg = xfrm_usersa_info()
    for key, value in usersa_info_fields(p).items():
        msg[key] = value
    attrs: list[tuple[str, object]] = [alg.nla() for alg in p.algs]
    if p.encap is not None:
        attrs.append(("XFRMA_ENCAP", {"encap_type": p.encap.type, "encap_sport": p.encap.sport,
                                      "encap_dport": p.encap.dport, "encap_oa": None}))
    oseq, seq = p.replay or (0, 0)
    if uses_esn_attr(p):
        words = (max(p.replay_window, 32) + 31) // 32
        # a carried-on window counts everything below `seq` as seen: a packet
        # in flight during the move may be dropped, none can be replayed
        bitmap = (b"\xff" if seq else b"\0") * (4 * words)
        attrs.append(("XFRMA_REPLAY_ESN_VAL", {"bmp_len": words, "replay_window": words * 32,
                                               "oseq": oseq & 0xFFFFFFFF, "oseq_hi": oseq >> 32,
                                               "seq": seq & 0xFFFFFFFF, "seq_hi": seq >> 32, "bmp": bitmap}))
    elif p.replay is not None:
        attrs.append(("XFRMA_REPLAY_VAL", {"oseq": oseq, "seq": seq, "bitmap": 0xFFFFFFFF if seq else 0}))
    msg["attrs"] = attrs
    return msg


def add_sa(nl: NetlinkChannel, p: SaParams, update: bool = False) -> None:
    """NEWSA (or UPDSA for a larval SA made by ALLOCSPI)."""
    msg_type = c.XFRM_MSG_UPDSA if update else c.XFRM_MSG_NEWSA
    nl.request(newsa_message(p), msg_type, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)


def sa_id_message(dst: str, spi: int, src: str | None = None, proto: int = c.IPPROTO_ESP) -> xfrm_usersa_id:
    msg = xfrm_usersa_id()
    msg["daddr"] = dst
    msg["spi"] = spi
    msg["family"] = family_of(dst)
    msg["proto"] = proto
    if src is not None:
        msg["attrs"] = [("XFRMA_SRCADDR", {"value": src})]
    return msg


def delete_sa(nl: NetlinkChannel, dst: str, spi: int, src: str | None = None) -> bool:
    """DELSA; False when there was no such SA."""
    try:
        nl.request(sa_id_message(dst, spi, src), c.XFRM_MSG_DELSA)
    except NetlinkError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True


def get_sa(nl: NetlinkChannel, dst: str, spi: int, src: str | None = None) -> SaState | None:
    """GETSA: the SA with its counters, or None."""
    try:
        answer = nl.request(sa_id_message(dst, spi, src), c.XFRM_MSG_GETSA)
    except NetlinkError as exc:
        if exc.errno == errno.ESRCH:
            return None
        raise
    states = [parse_sa(m) for m in answer if isinstance(m, xfrm_usersa_info)]
    return states[0] if states else None


def dump_sas(nl: NetlinkChannel) -> list[SaState]:
    return [parse_sa(m) for m in nl.dump(xfrm_usersa_id(), c.XFRM_MSG_GETSA) if isinstance(m, xfrm_usersa_info)]


def alloc_spi(nl: NetlinkChannel, src: str, dst: str, reqid: int, low: int = 0xC0000000,
              high: int = 0xCFFFFFFF) -> int:
    """ALLOCSPI: the kernel picks a free SPI in [low, high] and keeps a larval
    SA for it (finish it with add_sa(..., update=True))."""
    msg = xfrm_userspi_info()
    for key, value in {"info_id_daddr": dst, "info_id_proto": c.IPPROTO_ESP, "info_saddr": src,
                       "info_family": family_of(dst), "info_reqid": reqid, "info_mode": c.XFRM_MODE_TUNNEL,
                       "min": low, "max": high}.items():
        msg[key] = value
    answer = [m for m in nl.request(msg, c.XFRM_MSG_ALLOCSPI) if isinstance(m, xfrm_usersa_info)]
    if not answer:
        raise NetlinkError(errno.EIO, "ALLOCSPI answered without an SA")
    return int(answer[0]["id_spi"])


def parse_sa(msg: nlmsg, prefix: str = "") -> SaState:
    """An xfrm_usersa_info (or the one inside xfrm_user_expire) as SaState."""
    def f(name: str) -> Any:
        return msg[prefix + name]

    family = int(f("family"))
    replay = msg.get_attr("XFRMA_REPLAY_VAL")
    esn = msg.get_attr("XFRMA_REPLAY_ESN_VAL")
    oseq = seq = 0
    if esn is not None:
        oseq = (int(esn["oseq_hi"]) << 32) | int(esn["oseq"])
        seq = (int(esn["seq_hi"]) << 32) | int(esn["seq"])
    elif replay is not None:
        oseq, seq = int(replay["oseq"]), int(replay["seq"])
    encap_attr = msg.get_attr("XFRMA_ENCAP")
    encap = (Encap(int(encap_attr["encap_sport"]), int(encap_attr["encap_dport"]), int(encap_attr["encap_type"]))
             if encap_attr is not None else None)
    algs = tuple(a["alg_name"] for name in ("XFRMA_ALG_AEAD", "XFRMA_ALG_CRYPT", "XFRMA_ALG_AUTH_TRUNC")
                 if (a := msg.get_attr(name)) is not None)
    return SaState(
        src=address_text(f("saddr"), family),
        dst=address_text(f("id_daddr"), family),
        spi=int(f("id_spi")),
        proto=int(f("id_proto")),
        reqid=int(f("reqid")),
        mode=int(f("mode")),
        family=family,
        lifetime=Lifetime(
            soft_bytes=int(f("lft_soft_byte_limit")), hard_bytes=int(f("lft_hard_byte_limit")),
            soft_packets=int(f("lft_soft_packet_limit")), hard_packets=int(f("lft_hard_packet_limit")),
            soft_add_seconds=int(f("lft_soft_add_expires_seconds")),
            hard_add_seconds=int(f("lft_hard_add_expires_seconds")),
            soft_use_seconds=int(f("lft_soft_use_expires_seconds")),
            hard_use_seconds=int(f("lft_hard_use_expires_seconds")),
        ),
        current=SaCurrent(
            bytes=int(f("curlft_bytes")), packets=int(f("curlft_packets")),
            add_time=int(f("curlft_add_time")), use_time=int(f("curlft_use_time")),
            replay_window=int(f("stats_replay_window")), replay=int(f("stats_replay")),
            integrity_failed=int(f("stats_integrity_failed")), oseq=oseq, seq=seq,
        ),
        encap=encap,
        alg_names=algs,
    )

