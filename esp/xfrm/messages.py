"""XFRM netlink messages and attributes on pyroute2's generic nlmsg/nla.

pyroute2 (0.9.7 and before) has no XFRM state/policy API, only the
NETLINK_XFRM number; these classes describe the kernel's messages so that
pyroute2's encoder and decoder can write and read them. Field layouts are
in :mod:`esp.xfrm.structs`.

Algorithm attributes decode without their key: keys go to the kernel and
never come back into Python objects that might be printed.
"""

from __future__ import annotations

import struct
from typing import Any

from pyroute2.netlink import nla, nlmsg

from . import consts as c
from .structs import (
    ALG_NAME_LEN,
    ENCAP_TMPL,
    LIFETIME_CUR,
    MARK,
    USER_EXPIRE,
    USER_MAPPING,
    USER_POLEXPIRE,
    USER_TMPL,
    USERPOLICY_ID,
    USERPOLICY_INFO,
    USERSA_ID,
    USERSA_INFO,
    USERSPI_INFO,
    Address16,
    fields_size,
    pack_fields,
    unpack_fields,
)

TMPL_SIZE = fields_size(USER_TMPL)


class _alg_base(nla):
    """struct xfrm_algo{,_auth,_aead}: a zero-padded name, the key length in
    bits, maybe a truncation/ICV length in bits, then the key."""

    __slots__ = ()
    fixed: tuple[tuple[str, str], ...] = ()

    def ft_encode(self, offset: int) -> tuple[int, int]:
        key = bytes(self.get("alg_key") or b"")
        name = self.get("alg_name") or b""
        name = name.encode() if isinstance(name, str) else bytes(name)
        if len(name) >= ALG_NAME_LEN:
            raise ValueError(f"algorithm name too long: {name!r}")
        body = struct.pack(f"{ALG_NAME_LEN}s", name)  # zero-filled to 64
        for field, fmt in self.fixed:
            body += struct.pack(fmt, self.get(field) or 0)
        body += key
        self.data.extend(body)
        offset += len(body)
        diff = (-offset) % 4
        self.data.extend(bytes(diff))
        return offset + diff, diff

    def ft_decode(self, offset: int) -> None:
        (name,) = struct.unpack_from(f"{ALG_NAME_LEN}s", self.data, offset)
        self["alg_name"] = name.rstrip(b"\0").decode()
        offset += ALG_NAME_LEN
        for field, fmt in self.fixed:
            (self[field],) = struct.unpack_from(fmt, self.data, offset)
            offset += struct.calcsize(fmt)
        del self["attrs"]
        if self["value"] is not None and "value" in self:
            del self["value"]

    def getvalue(self) -> Any:
        return self


class _tmpl_list(nla):
    """XFRMA_TMPL: an array of struct xfrm_user_tmpl with no header per element."""

    __slots__ = ()

    def ft_encode(self, offset: int) -> tuple[int, int]:
        body = b"".join(pack_fields(USER_TMPL, t) for t in self.get("templates") or [])
        self.data.extend(body)
        return offset + len(body), 0

    def ft_decode(self, offset: int) -> None:
        end = self.offset + self.length
        templates = []
        while offset + TMPL_SIZE <= end:
            values, offset = unpack_fields(USER_TMPL, self.data, offset)
            templates.append(values)
        self["templates"] = templates
        del self["attrs"]
        if "value" in self:
            del self["value"]

    def getvalue(self) -> Any:
        return self


class _attrs:
    """The XFRMA_* attribute classes, shared by every message below."""

    class xfrm_algo(_alg_base):
        fixed = (("alg_key_len", "I"),)

    class xfrm_algo_auth(_alg_base):
        fixed = (("alg_key_len", "I"), ("alg_trunc_len", "I"))

    class xfrm_algo_aead(_alg_base):
        fixed = (("alg_key_len", "I"), ("alg_icv_len", "I"))

    class xfrm_encap_tmpl(nla):
        fields = ENCAP_TMPL

    class xfrm_user_tmpl(_tmpl_list):
        pass

    class xfrm_lifetime_cur(nla):
        fields = LIFETIME_CUR

    class xfrm_replay_state(nla):
        fields = (("oseq", "I"), ("seq", "I"), ("bitmap", "I"))

    class xfrm_replay_state_esn(nla):
        """Fixed part; the bitmap (bmp_len 32-bit words) follows as bytes."""

        fields = (
            ("bmp_len", "I"),
            ("oseq", "I"),
            ("seq", "I"),
            ("oseq_hi", "I"),
            ("seq_hi", "I"),
            ("replay_window", "I"),
            ("bmp", "s"),
        )

    class xfrm_mark(nla):
        fields = MARK

    class xfrm_address(nla):
        fields = (("value", Address16),)

    class xfrm_userpolicy_type(nla):
        fields = (("type", "B"), ("_pad_pt", "x"), ("reserved1", "H"), ("reserved2", "B"), ("_pad_pt2", "x"))


XFRMA_MAP = (
    (c.XFRMA_ALG_AUTH, "XFRMA_ALG_AUTH", "xfrm_algo"),
    (c.XFRMA_ALG_CRYPT, "XFRMA_ALG_CRYPT", "xfrm_algo"),
    (c.XFRMA_ENCAP, "XFRMA_ENCAP", "xfrm_encap_tmpl"),
    (c.XFRMA_TMPL, "XFRMA_TMPL", "xfrm_user_tmpl"),
    (c.XFRMA_LTIME_VAL, "XFRMA_LTIME_VAL", "xfrm_lifetime_cur"),
    (c.XFRMA_REPLAY_VAL, "XFRMA_REPLAY_VAL", "xfrm_replay_state"),
    (c.XFRMA_SRCADDR, "XFRMA_SRCADDR", "xfrm_address"),
    (c.XFRMA_LASTUSED, "XFRMA_LASTUSED", "uint64"),
    (c.XFRMA_POLICY_TYPE, "XFRMA_POLICY_TYPE", "xfrm_userpolicy_type"),
    (c.XFRMA_ALG_AEAD, "XFRMA_ALG_AEAD", "xfrm_algo_aead"),
    (c.XFRMA_ALG_AUTH_TRUNC, "XFRMA_ALG_AUTH_TRUNC", "xfrm_algo_auth"),
    (c.XFRMA_MARK, "XFRMA_MARK", "xfrm_mark"),
    (c.XFRMA_REPLAY_ESN_VAL, "XFRMA_REPLAY_ESN_VAL", "xfrm_replay_state_esn"),
    (c.XFRMA_SA_EXTRA_FLAGS, "XFRMA_SA_EXTRA_FLAGS", "uint32"),
    (c.XFRMA_IF_ID, "XFRMA_IF_ID", "uint32"),
)


class _xfrm_msg(nlmsg, _attrs):
    __slots__ = ()
    prefix = "XFRMA_"
    nla_map = XFRMA_MAP


class xfrm_usersa_info(_xfrm_msg):
    """NEWSA/UPDSA, and what GETSA, a dump and ALLOCSPI answer with."""

    fields = USERSA_INFO


class xfrm_usersa_id(_xfrm_msg):
    """DELSA/GETSA: which SA (daddr, spi, proto; XFRMA_SRCADDR optional)."""

    fields = USERSA_ID


class xfrm_userspi_info(_xfrm_msg):
    """ALLOCSPI: a larval SA for (daddr, proto) and an SPI range."""

    fields = USERSPI_INFO


class xfrm_userpolicy_info(_xfrm_msg):
    """NEWPOLICY/UPDPOLICY, and what GETPOLICY and a dump answer with."""

    fields = USERPOLICY_INFO


class xfrm_userpolicy_id(_xfrm_msg):
    """DELPOLICY/GETPOLICY: which policy (selector and direction, or index)."""

    fields = USERPOLICY_ID


class xfrm_user_expire(_xfrm_msg):
    """XFRM_MSG_EXPIRE on XFRMNLGRP_EXPIRE: the SA and whether it is hard."""

    fields = USER_EXPIRE


class xfrm_user_polexpire(_xfrm_msg):
    fields = USER_POLEXPIRE


class xfrm_user_mapping(_xfrm_msg):
    """XFRM_MSG_MAPPING on XFRMNLGRP_MAPPING: ESP in UDP of an inbound SA
    came, authenticated, from another source address or port."""

    fields = USER_MAPPING


# What the kernel answers (or announces) with, by message type.
RESPONSE_CLASSES: dict[int, type[nlmsg]] = {
    c.XFRM_MSG_NEWSA: xfrm_usersa_info,
    c.XFRM_MSG_UPDSA: xfrm_usersa_info,
    c.XFRM_MSG_DELSA: xfrm_usersa_id,
    c.XFRM_MSG_NEWPOLICY: xfrm_userpolicy_info,
    c.XFRM_MSG_UPDPOLICY: xfrm_userpolicy_info,
    c.XFRM_MSG_DELPOLICY: xfrm_userpolicy_id,
    c.XFRM_MSG_EXPIRE: xfrm_user_expire,
    c.XFRM_MSG_POLEXPIRE: xfrm_user_polexpire,
    c.XFRM_MSG_MAPPING: xfrm_user_mapping,
}
