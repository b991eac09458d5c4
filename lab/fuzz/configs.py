"""The responder configurations sessions run against: the lab default
(tunnel-all) and the split-tunnel policies whose narrowing the earlier
findings were in. Built once per process (loading the identity costs
40 ms); pools are emptied between sessions, after the drain oracle ran."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from ikev2d.conf import load_config
from ikev2d.settings import ResponderSettings, build_settings

ROOT = Path(__file__).resolve().parents[2]
TUNNEL_ALL = "      split_tunnel: tunnel-all        # tunnel-all | tunnel-specified | exclude-specified\n" \
             "      split_tunnel_networks: []\n"
POLICIES = {
    "tunnel-all": TUNNEL_ALL,
    "exclude-three": "      split_tunnel: exclude-specified\n"
                     "      split_tunnel_networks: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n",
    "tunnel-specified": "      split_tunnel: tunnel-specified\n"
                        "      split_tunnel_networks: [10.1.0.0/16, 10.2.0.0/16, 192.0.2.0/24]\n",
}
# cookie challenge on every IKE_SA_INIT: the stateless cookie path in each session
COOKIES = "cookie-always"
# a pool of one address: the second session finds it exhausted
ONE_ADDRESS = "one-address"
CONFIGS = (*POLICIES, COOKIES, ONE_ADDRESS)
POOL = "range: 198.19.0.200-198.19.0.250"


@cache
def _pki() -> Path:
    return Path(tempfile.mkdtemp(prefix="ikev2d-fuzz-pki-"))


@cache
def settings_for(name: str) -> ResponderSettings:
    text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {_pki()}")
    assert TUNNEL_ALL in text, "config/ikev2d.yaml changed its group policy"
    path = Path(tempfile.mkdtemp(prefix="ikev2d-fuzz-")) / "ikev2d.yaml"
    text = text.replace(TUNNEL_ALL, POLICIES.get(name, TUNNEL_ALL))
    if name == ONE_ADDRESS:
        assert POOL in text, "config/ikev2d.yaml changed its pool"
        text = text.replace(POOL, "range: 198.19.0.200-198.19.0.200")
    path.write_text(text)
    settings = build_settings(load_config(path))
    if name == COOKIES:
        settings.cookie_challenge = "always"
    return settings


def reset_pools(settings: ResponderSettings) -> None:
    for pool in settings.pools.values():
        for address in pool.leases():
            pool.release(address)
