"""Project-wide pytest setup: skip `interop` tests only where the machine lacks
what they need (root, `ip netns`, strongSwan's charon and swanctl, TUN), with
the reason stated.  Nothing else is skipped here."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    interop = [item for item in items if item.get_closest_marker("interop") is not None]
    if not interop:
        return
    from lab.preflight import lab_missing

    reason = lab_missing()
    if reason:
        for item in interop:
            item.add_marker(pytest.mark.skip(reason=f"interop: {reason}"))
