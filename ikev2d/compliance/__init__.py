"""check-config's judgement of a loaded configuration against the NSA/CNSA
guidance for IPsec VPNs and the whitepaper's advice on SSL/TLS exposure.

    findings = check_compliance(config, SourceMap.of_file(path))
"""

from __future__ import annotations

from ikev2d.conf.locate import SourceMap
from ikev2d.conf.model import Config

from .crypto import check_crypto
from .exposure import check_exposure
from .findings import Finding, Severity

__all__ = ["Finding", "Severity", "check_compliance"]


def check_compliance(config: Config, where: SourceMap | None = None) -> list[Finding]:
    """Every finding, in file order (on a shared line, in the order written)."""
    where = where if where is not None else SourceMap.of_file(config.source)
    findings = [*check_crypto(config, where), *check_exposure(config, where)]
    return sorted(findings, key=lambda f: f.line)
