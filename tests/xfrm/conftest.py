"""Tests marked `xfrm` run on the host and boot user-mode Linux (lab/uml.py)
to run guest_*.py inside a kernel that has ESP. They are skipped only when
UML is not installed here, and say so; lab/setup.sh installs it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from lab.uml import DEFAULT_MODULES, UmlResult, run_pytest_in_uml, uml_missing

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = uml_missing()
    if not reason:
        return
    for item in items:
        if item.get_closest_marker("xfrm") is not None:
            item.add_marker(pytest.mark.skip(reason=f"xfrm: {reason}"))


@dataclass(frozen=True)
class GuestReport:
    """What pytest inside the guest reported, per test id."""

    result: UmlResult
    outcomes: dict[str, str]  # "passed" | "failed" | "error" | "skipped"

    def explain(self) -> str:
        lines = [f"guest exit code {self.result.exit_code} after {self.result.seconds:.1f}s"
                 + (" (timed out)" if self.result.timed_out else ""),
                 f"console log: {self.result.log_path}", "--- guest console (tail) ---", self.result.tail(200)]
        return "\n".join(lines)


def _outcomes(junit: Path) -> dict[str, str]:
    if not junit.exists():
        return {}
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "?")
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            out[name] = "failed"
        elif "error" in kinds:
            out[name] = "error"
        elif "skipped" in kinds:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


RunGuest = Callable[..., GuestReport]


@pytest.fixture
def run_guest(tmp_path: Path) -> RunGuest:
    """run_guest("guest_x.py", expect=N): run that file's tests inside UML
    (with `modules` loaded beside lab.uml's); fails unless exactly N tests
    ran there and every one passed."""

    def run(filename: str, expect: int, timeout: float = 120.0, extra: tuple[str, ...] = (),
            modules: tuple[str, ...] = ()) -> GuestReport:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            timeout *= 2  # another worker shares the cores: the guest runs slower
        result = run_pytest_in_uml([str(HERE / filename), *extra], tmp_path / "uml", timeout=timeout,
                                   modules=(*DEFAULT_MODULES, *modules))
        report = GuestReport(result, _outcomes(tmp_path / "uml" / "guest-junit.xml"))
        bad = {k: v for k, v in report.outcomes.items() if v != "passed"}
        assert result.exit_code == 0 and not bad, f"inside UML: {bad or 'no report'}\n{report.explain()}"
        assert len(report.outcomes) == expect, f"expected {expect} guest tests, ran {sorted(report.outcomes)}"
        return report

    return run
