#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (run as root): the Debian packages the lab
# and the tests use, and the project installed into .venv/ at the repo root
# with the exact versions of constraints.txt.
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
  # a NAT whose mapping changes mid-session (tests/interop/test_nat_rebinding.py);
  # iptables for the same inside user-mode Linux, whose kernel has no nftables
  # for IPv4 (tests/xfrm/guest_nat_rebinding.py)
  nftables conntrack iptables
  # libreswan's libraries (tests/xfrm/test_libreswan.py); libreswan itself
  # conflicts with strongSwan's packages, so it is unpacked below instead
  libnss3-tools libldns3 libevent-pthreads-2.1-7 dns-root-data
  # a third IKEv2 client, OpenIKED (tests/xfrm/test_openiked.py, lab/openiked.py)
  openiked
)
# Services these packages start on install. The tests start their own
# (in namespaces, on private configurations); a freeradius on 1812, a
# charon on UDP 500 or an rsyslog nobody asked for must not be left behind.
SERVICES=(freeradius rsyslog iperf3 strongswan-starter ipsec openiked)

with_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
is_running() {
  if with_systemd; then systemctl is-active --quiet "$1"; else service "$1" status >/dev/null 2>&1; fi
}

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  running_before=()
  for s in "${SERVICES[@]}"; do is_running "$s" && running_before+=("$s"); done
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}"
  for s in "${SERVICES[@]}"; do
    case " ${running_before[*]:-} " in *" $s "*) continue ;; esac  # the admin's: leave it
    if with_systemd; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then
      service "$s" stop >/dev/null 2>&1 || true
    fi
  done
fi

# A second IKEv2 client, libreswan: Debian's package conflicts with
# strongswan-libcharon and strongswan-starter, so it is unpacked (never
# installed) into the ignored .lab/libreswan and run from there (lab/libreswan.py).
LIBRESWAN_PREFIX=.lab/libreswan
if [ ! -x "$LIBRESWAN_PREFIX/usr/libexec/ipsec/pluto" ]; then
  download=$(mktemp -d)
  (cd "$download" && { apt-get download -q libreswan || { apt-get update -q && apt-get download -q libreswan; }; })
  mkdir -p "$LIBRESWAN_PREFIX"
  dpkg-deb -x "$download"/libreswan_*.deb "$LIBRESWAN_PREFIX"
  rm -rf "$download"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt -e '.[test]'
