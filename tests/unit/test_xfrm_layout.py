"""The XFRM structs as pyroute2 field lists match the kernel's C layout
(include/uapi/linux/xfrm.h on x86-64): sizes, and the offset of every member,
compiled against the installed header where a C compiler is available."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from esp.xfrm import structs as s
from esp.xfrm.messages import TMPL_SIZE

# sizeof() on x86-64, from the header (224 and 168 are quoted in kernel-esp.md)
EXPECTED_SIZES = {
    "xfrm_selector": (s.SELECTOR, 56),
    "xfrm_id": (s.ID, 24),
    "xfrm_lifetime_cfg": (s.LIFETIME_CFG, 64),
    "xfrm_lifetime_cur": (s.LIFETIME_CUR, 32),
    "xfrm_stats": (s.STATS, 12),
    "xfrm_usersa_info": (s.USERSA_INFO, 224),
    "xfrm_usersa_id": (s.USERSA_ID, 24),
    "xfrm_userspi_info": (s.USERSPI_INFO, 232),
    "xfrm_userpolicy_info": (s.USERPOLICY_INFO, 168),
    "xfrm_userpolicy_id": (s.USERPOLICY_ID, 64),
    "xfrm_user_tmpl": (s.USER_TMPL, 64),
    "xfrm_user_expire": (s.USER_EXPIRE, 232),
    "xfrm_user_polexpire": (s.USER_POLEXPIRE, 176),
    "xfrm_user_mapping": (s.USER_MAPPING, 64),
    "xfrm_encap_tmpl": (s.ENCAP_TMPL, 24),
    "xfrm_mark": (s.MARK, 8),
}

# C member path -> our flattened field name, per struct
MEMBERS: dict[str, dict[str, str]] = {
    "xfrm_usersa_info": {
        "sel.daddr": "sel_daddr", "sel.saddr": "sel_saddr", "sel.dport": "sel_dport",
        "sel.sport_mask": "sel_sport_mask", "sel.family": "sel_family", "sel.prefixlen_d": "sel_prefixlen_d",
        "sel.prefixlen_s": "sel_prefixlen_s", "sel.proto": "sel_proto", "sel.ifindex": "sel_ifindex",
        "sel.user": "sel_user", "id.daddr": "id_daddr", "id.spi": "id_spi", "id.proto": "id_proto",
        "saddr": "saddr", "lft.soft_byte_limit": "lft_soft_byte_limit",
        "lft.hard_use_expires_seconds": "lft_hard_use_expires_seconds", "curlft.bytes": "curlft_bytes",
        "curlft.use_time": "curlft_use_time", "stats.replay_window": "stats_replay_window",
        "stats.integrity_failed": "stats_integrity_failed", "seq": "seq", "reqid": "reqid", "family": "family",
        "mode": "mode", "replay_window": "replay_window", "flags": "flags",
    },
    "xfrm_usersa_id": {"daddr": "daddr", "spi": "spi", "family": "family", "proto": "proto"},
    "xfrm_userspi_info": {"info.reqid": "info_reqid", "info.flags": "info_flags", "min": "min", "max": "max"},
    "xfrm_userpolicy_info": {
        "sel.daddr": "sel_daddr", "sel.user": "sel_user", "lft.soft_byte_limit": "lft_soft_byte_limit",
        "curlft.bytes": "curlft_bytes", "priority": "priority", "index": "index", "dir": "dir",
        "action": "action", "flags": "flags", "share": "share",
    },
    "xfrm_userpolicy_id": {"sel.family": "sel_family", "index": "index", "dir": "dir"},
    "xfrm_user_tmpl": {
        "id.daddr": "id_daddr", "id.spi": "id_spi", "id.proto": "id_proto", "family": "family", "saddr": "saddr",
        "reqid": "reqid", "mode": "mode", "share": "share", "optional": "optional", "aalgos": "aalgos",
        "ealgos": "ealgos", "calgos": "calgos",
    },
    "xfrm_user_expire": {"state.id.spi": "state_id_spi", "state.flags": "state_flags", "hard": "hard"},
    "xfrm_user_polexpire": {"pol.dir": "pol_dir", "hard": "hard"},
    "xfrm_user_mapping": {"id.daddr": "id_daddr", "id.spi": "id_spi", "id.family": "id_family",
                          "id.proto": "id_proto", "reqid": "reqid", "old_saddr": "old_saddr",
                          "new_saddr": "new_saddr", "old_sport": "old_sport", "new_sport": "new_sport"},
    "xfrm_encap_tmpl": {"encap_type": "encap_type", "encap_sport": "encap_sport",
                        "encap_dport": "encap_dport", "encap_oa": "encap_oa"},
}

x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="sizes are those of x86-64")


@x86_64
@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_size_matches_the_header(name: str) -> None:
    fields, size = EXPECTED_SIZES[name]
    assert s.fields_size(fields) == size


def test_template_array_element_is_one_struct() -> None:
    assert TMPL_SIZE == 64


def test_every_padding_byte_is_written_out() -> None:
    """Each struct with a u64 member is a multiple of 8, others of 4: the
    explicit 'x' fields carry the compiler's tail padding."""
    for name, (fields, _) in EXPECTED_SIZES.items():
        align = 8 if any(fmt == "Q" for _, fmt in fields) else 4
        assert s.fields_size(fields) % align == 0, name


def _compile_offsets(tmp_path: Path) -> dict[str, int]:
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <linux/xfrm.h>", "int main(void) {"]
    for struct, members in MEMBERS.items():
        lines.append(f'printf("{struct} sizeof %zu\\n", sizeof(struct {struct}));')
        for member in members:
            lines.append(f'printf("{struct} {member} %zu\\n", offsetof(struct {struct}, {member}));')
    lines += ["return 0;", "}"]
    src, exe = tmp_path / "offsets.c", tmp_path / "offsets"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True, capture_output=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {f"{m.group(1)} {m.group(2)}": int(m.group(3))
            for m in re.finditer(r"^(\S+) (\S+) (\d+)$", out, flags=re.MULTILINE)}


@x86_64
@pytest.mark.skipif(shutil.which("cc") is None or not Path("/usr/include/linux/xfrm.h").exists(),
                    reason="needs a C compiler and the kernel's uapi headers (linux-libc-dev)")
def test_offsets_match_the_compiled_header(tmp_path: Path) -> None:
    c = _compile_offsets(tmp_path)
    for struct, members in MEMBERS.items():
        fields, _ = EXPECTED_SIZES[struct]
        assert c[f"{struct} sizeof"] == s.fields_size(fields), struct
        for member, ours in members.items():
            assert c[f"{struct} {member}"] == s.field_offset(fields, ours), f"{struct}.{member}"
