"""The configuration: FMC objects read from YAML, with FTD defaults.

    from ikev2d.conf import load_config, ConfigError
"""

from .errors import ConfigError, ConfigIssue
from .loader import load_config, parse_config
from .model import Config

__all__ = ["Config", "ConfigError", "ConfigIssue", "load_config", "parse_config"]
