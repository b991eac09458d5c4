"""A fuzz session as plain data: the scenario (the steps a client takes)
and the mutations applied to its requests, by request index. Recorded
while fuzzing, it replays the session exactly (same seed, same world
randomness), which is what shrinking and the reproducer files need."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

Step = list[Any]  # ["connect", client, eap_method, fragment_size, good_password], ["clock", dt, answer], ...


@dataclass
class Mutation:
    """What replaces one request (`mode` "replace"), or goes just before
    ("inject") or just after ("after") the real one.

    level "raw": `datagrams` as they are; "plaintext": `plaintext` sealed
    with the real keys (in `fragment`-octet SKF pieces when non-zero);
    "framing": `plaintext` framed by `framing` (lab.fuzz.framing.Framing).
    `source` sends it from another address than the client's."""

    level: str
    mode: str = "replace"
    first: int = 0
    plaintext: str = ""  # hex
    datagrams: list[str] = field(default_factory=list)  # hex
    framing: dict[str, Any] | None = None
    fragment: int = 0
    source: tuple[str, int] | None = None


@dataclass
class Plan:
    target: str
    seed: int
    config: str
    steps: list[Step]
    mutations: dict[int, Mutation] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["mutations"] = {str(k): v for k, v in data["mutations"].items()}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        data = json.loads(text)
        mutations = {}
        for k, v in data["mutations"].items():
            if v.get("source") is not None:
                v["source"] = tuple(v["source"])
            mutations[int(k)] = Mutation(**v)
        return cls(data["target"], data["seed"], data["config"], data["steps"], mutations)

    def copy(self) -> "Plan":
        return Plan.from_json(self.to_json())
