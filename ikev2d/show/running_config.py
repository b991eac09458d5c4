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


def as_json(text: str | None) -> dict[str, Any]:
    return {"available": text is not None, "lines": text.splitlines() if text is not None else []}


def render(text: str | None) -> str:
    if text is None:
        return UNAVAILABLE + "\n"
    return text if text.endswith("\n") else text + "\n"
