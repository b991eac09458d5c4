"""The C structs of include/uapi/linux/xfrm.h as pyroute2 field lists.

pyroute2 packs each field on its own (no implicit C alignment), so every
padding byte the compiler would insert is written out here as an 'x' field;
tests/unit/test_xfrm_layout.py compares the result with the real header.
Nested structs are flattened with a name prefix (``sel_daddr``...).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Sequence, Union

Field = tuple[str, Any]  # (name, struct format or a codec class)
Fields = tuple[Field, ...]


class Address16:
    """xfrm_address_t: 16 bytes, an IPv4 address in the first four.

    Encodes a str/IPv4Address/IPv6Address/bytes/0; decodes to the raw
    16 bytes, because only the family beside it says which kind it is.
    """

    size = 16

    @staticmethod
    def to_bytes(value: Union[str, bytes, int, None, ipaddress.IPv4Address, ipaddress.IPv6Address]) -> bytes:
        if not value:
            return bytes(16)
        if isinstance(value, (bytes, bytearray)):
            if len(value) not in (4, 16):
                raise ValueError(f"an address is 4 or 16 bytes, not {len(value)}")
            return bytes(value).ljust(16, b"\0")
        if isinstance(value, int):
            raise ValueError("an address as int is ambiguous: pass a string")
        return ipaddress.ip_address(value).packed.ljust(16, b"\0")

    @staticmethod
    def encode_into(data: bytearray, offset: int, value: Any) -> int:
        data.extend(bytes(16))
        data[offset : offset + 16] = Address16.to_bytes(value)
        return offset + 16

    @staticmethod
    def decode_from(data: bytes, offset: int) -> tuple[bytes, int]:
        return bytes(data[offset : offset + 16]), offset + 16


def address_text(raw: bytes, family: int) -> str:
    """The 16 bytes of an xfrm_address_t as text, for `family` (AF_INET/AF_INET6)."""
    import socket

    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    return str(ipaddress.IPv4Address(raw[:4]))


def _prefixed(prefix: str, fields: Fields) -> Fields:
    return tuple((prefix + name, fmt) for name, fmt in fields)


# struct xfrm_selector (56 bytes, 4-aligned)
SELECTOR: Fields = (
    ("daddr", Address16),
    ("saddr", Address16),
    ("dport", ">H"),
    ("dport_mask", ">H"),
    ("sport", ">H"),
    ("sport_mask", ">H"),
    ("family", "H"),
    ("prefixlen_d", "B"),
    ("prefixlen_s", "B"),
    ("proto", "B"),
    ("_pad_sel", "3x"),
    ("ifindex", "i"),
    ("user", "I"),
)

# struct xfrm_id (24 bytes)
ID: Fields = (
    ("daddr", Address16),
    ("spi", ">I"),
    ("proto", "B"),
    ("_pad_id", "3x"),
)

# struct xfrm_lifetime_cfg (64 bytes)
LIFETIME_CFG: Fields = (
    ("soft_byte_limit", "Q"),
    ("hard_byte_limit", "Q"),
    ("soft_packet_limit", "Q"),
    ("hard_packet_limit", "Q"),
    ("soft_add_expires_seconds", "Q"),
    ("hard_add_expires_seconds", "Q"),
    ("soft_use_expires_seconds", "Q"),
    ("hard_use_expires_seconds", "Q"),
)

# struct xfrm_lifetime_cur (32 bytes)
LIFETIME_CUR: Fields = (
    ("bytes", "Q"),
    ("packets", "Q"),
    ("add_time", "Q"),
    ("use_time", "Q"),
)

# struct xfrm_stats (12 bytes)
STATS: Fields = (
    ("replay_window", "I"),
    ("replay", "I"),
    ("integrity_failed", "I"),
)

# struct xfrm_usersa_info (224 bytes on x86-64: 217 of members, 8-aligned)
USERSA_INFO: Fields = (
    *_prefixed("sel_", SELECTOR),
    *_prefixed("id_", ID),
    ("saddr", Address16),
    *_prefixed("lft_", LIFETIME_CFG),
    *_prefixed("curlft_", LIFETIME_CUR),
    *_prefixed("stats_", STATS),
    ("seq", "I"),
    ("reqid", "I"),
    ("family", "H"),
    ("mode", "B"),
    ("replay_window", "B"),
    ("flags", "B"),
    ("_pad_info", "7x"),
)

# struct xfrm_usersa_id (24 bytes)
USERSA_ID: Fields = (
    ("daddr", Address16),
    ("spi", ">I"),
    ("family", "H"),
    ("proto", "B"),
    ("_pad_said", "x"),
)

# struct xfrm_userspi_info (232 bytes)
USERSPI_INFO: Fields = (
    *_prefixed("info_", USERSA_INFO),
    ("min", "I"),
    ("max", "I"),
)

# struct xfrm_userpolicy_info (168 bytes: 164 of members, 8-aligned)
USERPOLICY_INFO: Fields = (
    *_prefixed("sel_", SELECTOR),
    *_prefixed("lft_", LIFETIME_CFG),
    *_prefixed("curlft_", LIFETIME_CUR),
    ("priority", "I"),
    ("index", "I"),
    ("dir", "B"),
    ("action", "B"),
    ("flags", "B"),
    ("share", "B"),
    ("_pad_pol", "4x"),
)

# struct xfrm_userpolicy_id (64 bytes)
USERPOLICY_ID: Fields = (
    *_prefixed("sel_", SELECTOR),
    ("index", "I"),
    ("dir", "B"),
    ("_pad_polid", "3x"),
)

# struct xfrm_user_tmpl (64 bytes)
USER_TMPL: Fields = (
    *_prefixed("id_", ID),
    ("family", "H"),
    ("_pad_tmpl1", "2x"),
    ("saddr", Address16),
    ("reqid", "I"),
    ("mode", "B"),
    ("share", "B"),
    ("optional", "B"),
    ("_pad_tmpl2", "x"),
    ("aalgos", "I"),
    ("ealgos", "I"),
    ("calgos", "I"),
)

# struct xfrm_user_expire (232 bytes)
USER_EXPIRE: Fields = (
    *_prefixed("state_", USERSA_INFO),
    ("hard", "B"),
    ("_pad_exp", "7x"),
)

# struct xfrm_user_polexpire (176 bytes)
USER_POLEXPIRE: Fields = (
    *_prefixed("pol_", USERPOLICY_INFO),
    ("hard", "B"),
    ("_pad_polexp", "7x"),
)

# struct xfrm_user_mapping (64 bytes): XFRM_MSG_MAPPING, ESP in UDP of an
# inbound SA authenticated from a new source (old = the SA's peer as installed)
USER_MAPPING: Fields = (
    *_prefixed("id_", USERSA_ID),
    ("reqid", "I"),
    ("old_saddr", Address16),
    ("new_saddr", Address16),
    ("old_sport", ">H"),
    ("new_sport", ">H"),
)

# struct xfrm_encap_tmpl (24 bytes)
ENCAP_TMPL: Fields = (
    ("encap_type", "H"),
    ("encap_sport", ">H"),
    ("encap_dport", ">H"),
    ("_pad_encap", "2x"),
    ("encap_oa", Address16),
)

# struct xfrm_mark (8 bytes)
MARK: Fields = (("v", "I"), ("m", "I"))

ALG_NAME_LEN = 64


def field_size(fmt: Any) -> int:
    return struct.calcsize(fmt) if isinstance(fmt, str) else int(fmt.size)


def fields_size(fields: Sequence[Field]) -> int:
    return sum(field_size(fmt) for _, fmt in fields)


def field_offset(fields: Sequence[Field], name: str) -> int:
    """Byte offset of `name` in the flattened struct (for the layout tests)."""
    offset = 0
    for field, fmt in fields:
        if field == name:
            return offset
        offset += field_size(fmt)
    raise KeyError(name)


def pack_fields(fields: Sequence[Field], values: dict[str, Any]) -> bytes:
    """Pack one struct from a dict (missing fields are zero); for arrays of
    structs inside one attribute, which pyroute2's NLA arrays cannot express."""
    out = bytearray()
    for name, fmt in fields:
        if not isinstance(fmt, str):  # a codec class such as Address16
            fmt.encode_into(out, len(out), values.get(name))
        elif fmt.endswith("x"):
            out.extend(bytes(struct.calcsize(fmt)))
        else:
            out.extend(struct.pack(fmt, values.get(name) or 0))
    return bytes(out)


def unpack_fields(fields: Sequence[Field], data: bytes, offset: int = 0) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {}
    for name, fmt in fields:
        if not isinstance(fmt, str):
            values[name], offset = fmt.decode_from(data, offset)
        elif fmt.endswith("x"):
            offset += struct.calcsize(fmt)
        else:
            (values[name],) = struct.unpack_from(fmt, data, offset)
            offset += struct.calcsize(fmt)
    return values, offset
