#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (run as root): the Debian packages the lab
# and the tests use, and the project installed into .venv/ at the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  strongswan-charon strongswan-swanctl charon-cmd strongswan-pki
  libcharon-extra-plugins libstrongswan-extra-plugins libcharon-extauth-plugins
  iproute2 iputils-ping procps util-linux tcpdump tshark iperf3
  freeradius freeradius-utils
  # a real syslog server for the FTD syslog tests (lab/rsyslog.py)
  rsyslog
  # a kernel with ESP for the `xfrm` tests: user-mode Linux (lab/uml.py)
  user-mode-linux kmod
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
