"""remote_access_vpn.ikev2_parameters: FMC's IPsec/IKEv2 Parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from ikev2d.conf import ConfigError, parse_config
from ikev2d.running_config import render_running_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "ikev2d.yaml"


def _parse(text: str):
    return parse_config(text, DEFAULT)


def test_defaults_when_the_section_is_absent() -> None:
    text = DEFAULT.read_text()
    start = text.index("  ikev2_parameters:")
    end = text.index("  default_connection_profile:")
    p = _parse(text[:start] + text[end:]).remote_access_vpn.ikev2_parameters
    assert (p.cookie_challenge, p.cookie_threshold_percent, p.max_in_negotiation, p.dpd_interval_seconds) == \
        ("custom", 50, 100, 30)


def test_values_are_read_and_rendered_as_asa_cli() -> None:
    text = DEFAULT.read_text().replace("cookie_threshold_percent: 50", "cookie_threshold_percent: 70").replace(
        "max_in_negotiation: 100", "max_in_negotiation: 400")
    config = _parse(text)
    assert config.remote_access_vpn.ikev2_parameters.cookie_threshold_percent == 70
    cli = render_running_config(config)
    assert "crypto ikev2 cookie-challenge 70" in cli
    assert "crypto ikev2 limit max-in-negotiation-sa 400" in cli
    assert "cookie-challenge" not in render_running_config(_parse(DEFAULT.read_text()))


@pytest.mark.parametrize("old,new,message", [
    ("cookie_challenge: custom", "cookie_challenge: sometimes", "unknown cookie_challenge 'sometimes'"),
    ("cookie_threshold_percent: 50", "cookie_threshold_percent: 150", "between 1 and 100"),
    ("dpd_interval_seconds: 30", "dpd_interval_seconds: soon", "must be a whole number"),
])
def test_a_bad_value_names_its_line(old: str, new: str, message: str) -> None:
    text = DEFAULT.read_text()
    line = text[: text.index(old)].count("\n") + 1
    with pytest.raises(ConfigError) as error:
        _parse(text.replace(old, new))
    assert f":{line}: " in str(error.value) and message in str(error.value)
