"""Wireshark's dissector, tshark, as an independent reader of ikev2d's key
export: given only a pcap and the two exported tables it must decrypt every
IKE and ESP packet and check their integrity itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

TABLES = ("ikev2_decryption_table", "esp_sa")
# ESP decryption and its ICV check are off by default in Wireshark
PREFERENCES = "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n"


@dataclass
class Frame:
    """One dissected packet: each field's values (`show`) and descriptions (`showname`)."""

    number: int
    shown: dict[str, list[str]] = field(default_factory=dict)
    described: dict[str, list[str]] = field(default_factory=dict)

    def values(self, name: str) -> list[str]:
        return self.shown.get(name, [])

    def descriptions(self, name: str) -> list[str]:
        return self.described.get(name, [])

    def has(self, name: str) -> bool:
        return name in self.shown


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def dissect(pcap: Path, keys: Path | None, timeout: float = 60.0) -> list[Frame]:
    """Every frame of `pcap` as tshark decodes it with the tables in `keys`
    (Wireshark's own configuration folder holds nothing else)."""
    return _frames(_tshark(pcap, keys, ["-T", "pdml"], timeout))


def summary(pcap: Path, keys: Path | None, timeout: float = 60.0) -> str:
    """tshark's one line per packet, decrypted with the tables in `keys`."""
    return _tshark(pcap, keys, [], timeout).decode(errors="replace")


def _tshark(pcap: Path, keys: Path | None, options: list[str], timeout: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ikev2d-wireshark-") as home:
        folder = Path(home) / "wireshark"
        folder.mkdir()
        (folder / "preferences").write_text(PREFERENCES)
        if keys is not None:
            for table in TABLES:
                if (keys / table).exists():
                    shutil.copy(keys / table, folder / table)
        env = dict(os.environ, XDG_CONFIG_HOME=home, HOME=home)
        return subprocess.run(["tshark", "-r", str(pcap), *options], env=env, capture_output=True,
                              check=True, timeout=timeout).stdout


def _frames(pdml: bytes) -> list[Frame]:
    frames = []
    for packet in ElementTree.fromstring(pdml).iter("packet"):
        frame = Frame(0)
        for f in packet.iter("field"):
            name = f.get("name") or ""
            frame.shown.setdefault(name, []).append(f.get("show") or "")
            frame.described.setdefault(name, []).append(f.get("showname") or "")
        frame.number = int(frame.values("num")[0])
        frames.append(frame)
    return frames
