"""`show logging`: the ASA's header (what is enabled, each destination's
level and how many messages it logged), then the internal buffer's lines,
oldest first (layout: the ASA command reference's `show logging` example;
docs/ftd-behaviour.md, "show commands")."""

from __future__ import annotations

from typing import Any

INDENT = "    "


def _destination(label: str, values: dict[str, Any] | None) -> str:
    if values is None:
        return f"{INDENT}{label} logging: disabled"
    return f"{INDENT}{label} logging: level {values['level']}, {values['logged']} messages logged"


def _host(h: dict[str, Any]) -> str:
    line = f"{INDENT * 2}Logging to {h['interface']} {h['host']}"
    # the ASA names the transport unless it is UDP/514 (as `logging host` does)
    if (h["protocol"], h["port"]) != ("udp", 514):
        line += f" {h['protocol']}/{h['port']}"
    return line + f", {h['logged']} messages logged, {h['dropped']} dropped"


def render(v: dict[str, Any]) -> str:
    trap = v["trap"]
    lines = [
        f"Syslog logging: {'enabled' if v['enabled'] else 'disabled'}",
        f"{INDENT}Facility: {v['facility']}",
        f"{INDENT}Timestamp logging: {'enabled' if v['timestamp'] else 'disabled'}",
        f"{INDENT}Standby logging: disabled",
        f"{INDENT}Debug-trace logging: disabled",
        _destination("Console", v["console"]),
        f"{INDENT}Monitor logging: disabled",
        _destination("Buffer", v["buffer"]),
    ]
    if trap is None:
        lines.append(f"{INDENT}Trap logging: disabled")
    else:
        lines.append(f"{INDENT}Trap logging: level {trap['level']}, facility {trap['facility']}, "
                     f"{trap['logged']} messages logged")
        lines += [_host(h) for h in trap["hosts"]]
    lines += [
        f"{INDENT}History logging: disabled",
        f'{INDENT}Device ID: hostname "{v["device_id"]}"',
        f"{INDENT}Mail logging: disabled",
        f"{INDENT}ASDM logging: disabled",
    ]
    lines += v["lines"]
    return "\n".join(lines) + "\n"
