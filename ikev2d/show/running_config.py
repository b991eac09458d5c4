"""`show running-config`: the daemon renders its own configuration with
`ikev2d.running_config.render_running_config(config)` (another module's
job); until that module exists the answer says so instead of guessing."""

from __future__ import annotations

import importlib
from typing import Any

UNAVAILABLE = "show running-config is not available: ikev2d.running_config is not part of this build"


def render_config(config: Any) -> str | None:
    """The configuration as ASA/FTD CLI text, or None without a renderer."""
    try:
        module = importlib.import_module("ikev2d.running_config")
    except ModuleNotFoundError as exc:
        if exc.name not in ("ikev2d.running_config",):
            raise  # the renderer exists but is broken: let that be seen
        return None
    render = getattr(module, "render_running_config", None)
    return render(config) if callable(render) else None


def section(text: str, words: tuple[str, ...]) -> str:
    """`show running-config WORD...` as the ASA has it: the top-level
    commands (each with its indented sub-commands) whose first words are
    `words`, each word possibly abbreviated (`crypto ikev2`, `group-policy`,
    `tunnel-group CCIElab`, `ip local pool`); nothing when none matches."""
    typed = [w.lower() for w in words]
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith((" ", "\t")) and blocks:
            blocks[-1].append(line)
        elif line.strip() and not line.startswith((":", "!")):
            blocks.append([line])
    kept = [b for b in blocks
            if len(head := b[0].lower().split()) >= len(typed)
            and all(full.startswith(w) for full, w in zip(head, typed))]
    return "".join(line + "\n" for block in kept for line in block)


def as_json(text: str | None) -> dict[str, Any]:
    return {"available": text is not None, "lines": text.splitlines() if text is not None else []}


def render(text: str | None) -> str:
    if text is None:
        return UNAVAILABLE + "\n"
    return text if text.endswith("\n") else text + "\n"
