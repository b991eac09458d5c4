#!/bin/sh
# PID 1 inside user-mode Linux (lab/uml.py boots it). The root file system
# is the host's / through hostfs, so nothing here may change the host:
# everything we create goes on tmpfs mounts inside the guest.
# Kernel command line words KEY=VALUE arrive as environment variables:
#   UML_JOB      script to run (sh), written by the host
#   UML_MODULES  modules to load before it
#   UML_MARKER   prefix of the line that reports the job's exit code
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null || true

# The host has no /lib/modules for this kernel and must not get one:
# modprobe reads a private tree whose lib/modules is the UML package's.
mkdir -p /run/uml-mod/lib
ln -s /usr/lib/uml/modules /run/uml-mod/lib/modules
cat > /run/uml-mod/modprobe <<'WRAP'
#!/bin/sh
exec /sbin/modprobe -d /run/uml-mod "$@"
WRAP
chmod 755 /run/uml-mod/modprobe
echo /run/uml-mod/modprobe > /proc/sys/kernel/modprobe

for m in $(echo "$UML_MODULES" | tr , " "); do
  /run/uml-mod/modprobe "$m" || echo "uml-init: cannot load module $m"
done
ip link set lo up

code=127
if [ -n "$UML_JOB" ] && [ -r "$UML_JOB" ]; then
  sh "$UML_JOB"
  code=$?
else
  echo "uml-init: no job script (UML_JOB=$UML_JOB)"
fi
sync
echo "${UML_MARKER:-UML-EXIT-CODE=}$code"
poweroff -f -f
