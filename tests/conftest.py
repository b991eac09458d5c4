"""Project-wide pytest setup: skip `interop` tests only where the machine lacks
what they need (root, `ip netns`, strongSwan's charon and swanctl, TUN), with
the reason stated.  Nothing else is skipped here.

Under pytest-xdist (lab/test.sh runs ``-n N --dist loadfile``) the long
files go first and one user-mode Linux runs at a time: see
:func:`_long_files_first` and :func:`pytest_xdist_make_scheduler`."""

from __future__ import annotations

from typing import Any

import pytest

# Slowest first: a user-mode Linux boot per xfrm file (a minute and more
# each), real daemons in the interop files, then the fuzzer's and the
# wheel's minute; the many short unit files fill the end of the run.
_LONG_FIRST = ("tests/xfrm/", "tests/interop/", "tests/fuzz/", "tests/package/")
UML_TESTS = "tests/xfrm/"


def _rank(item: pytest.Item) -> int:
    return next((i for i, prefix in enumerate(_LONG_FIRST) if item.nodeid.startswith(prefix)), len(_LONG_FIRST))


def _long_files_first(items: list[pytest.Item]) -> None:
    """A worker takes the next file as it frees up: with the long files
    first, the short ones fill the end of the run instead of one UML boot
    or strongSwan file started last. The sort is stable and the same in
    every worker, as xdist requires."""
    items.sort(key=_rank)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker; a serial run keeps pytest's order
        _long_files_first(items)
    interop = [item for item in items if item.get_closest_marker("interop") is not None]
    if not interop:
        return
    from lab.preflight import lab_missing

    reason = lab_missing()
    if reason:
        for item in interop:
            item.add_marker(pytest.mark.skip(reason=f"interop: {reason}"))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadfile, with every file under tests/xfrm one unit: one
    user-mode Linux at a time. A guest runs each system call of its kernel
    and daemons through the host, so two guests beside the other workers
    starve each other past their daemons' start-up timeouts. (xdist_group
    marks would say this, but pytest 9 ignores the node id suffix that
    --dist loadgroup relies on.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class OneUmlAtATime(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return UML_TESTS if nodeid.startswith(UML_TESTS) else super()._split_scope(nodeid)

    return OneUmlAtATime(config, log)
