#!/usr/bin/env bash
# Installs what thaw needs on a Debian 12 host and checks the kernel. Idempotent and quick when
# everything is in place already. Run as root: thaw creates containers, mounts and namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "thaw must run as root (it creates containers, mounts and network namespaces); try: sudo $0"

# Debian packages: runc (crun refuses hybrid cgroup hosts), CNI plugins, iptables, NATS,
# Redis, static busybox for test images, skopeo + docker-registry for registry tests, wrk for
# benchmarks, attr (setfattr) for overlay opaque whiteouts, tini for its static build
# (/usr/bin/tini-static), bind-mounted into every container as PID 1; chromium for the tests that
# render the gateway's pages in a headless browser; redis-sentinel for the failover tests;
# python3 (the Python base layer is made from Debian's) and golang-go (the static-binary example)
# for `thaw build`; a C/C++ tool chain for aws-lambda-ric's native part in the Lambda test image;
# systemd (systemd-analyze verifies the units in infra/systemd) and openssl (TLS test certificates).
PACKAGES=(runc containernetworking-plugins iptables iproute2 nats-server redis-server redis-sentinel
  busybox-static skopeo docker-registry wrk attr util-linux zstd tini chromium python3 golang-go
  build-essential cmake autoconf automake libtool systemd openssl fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services (redis, registry) from starting: thaw starts
  # the servers it needs itself, on ports of its choosing.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

# promtool (the tests check both /metrics endpoints with it), taken out of Debian's prometheus
# package rather than installing it: the package would bring a whole Prometheus server.
PROMTOOL=.cache/bin/promtool
if [ ! -x "$PROMTOOL" ]; then
  say "fetching promtool from Debian's prometheus package"
  mkdir -p .cache/deb .cache/bin
  (cd .cache/deb && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb --fsys-tarfile .cache/deb/prometheus_*.deb | tar -x -O ./usr/bin/promtool > "$PROMTOOL.tmp"
  chmod +x "$PROMTOOL.tmp" && mv "$PROMTOOL.tmp" "$PROMTOOL"
  rm -rf .cache/deb
fi

# npm dependencies, when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Commands on the PATH (thaw, and the services' thaw-gateway and thaw-worker): each workspace
# package's `bin` entries, linked into /usr/local/bin. A link to the same file of another thaw
# checkout moves to this one; anything else there is left alone.
node -e '
  const fs = require("node:fs"), path = require("node:path");
  for (const ws of require("./package.json").workspaces) {
    const bin = JSON.parse(fs.readFileSync(path.join(ws, "package.json"), "utf8")).bin ?? {};
    for (const [name, file] of Object.entries(bin)) {
      const target = path.resolve(ws, file), link = path.join("/usr/local/bin", name);
      let current;
      try { current = fs.readlinkSync(link); } catch { current = undefined; }
      if (current === target) continue;
      const ours = current !== undefined && current.endsWith(path.join("/", ws, file));
      if (ours) fs.unlinkSync(link);
      else if (current !== undefined || fs.existsSync(link)) {
        console.log(`setup: ${link} exists and is not ours; leaving it`);
        continue;
      }
      fs.symlinkSync(target, link);
    }
  }
'

# Kernel features.
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || die "the kernel has no overlayfs (modprobe overlay failed)"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  [ -f /sys/fs/cgroup/cgroup.subtree_control ] || die "cgroup v2 is mounted but unusable"
elif [ ! -d /sys/fs/cgroup/freezer ]; then
  die "no cgroup freezer: mount cgroup v2 at /sys/fs/cgroup, or the v1 freezer controller"
fi
[ -e /proc/self/ns/net ] || die "the kernel has no network namespaces"
command -v ip >/dev/null || die "ip (iproute2) is missing"
[ -x /usr/bin/tini-static ] || die "/usr/bin/tini-static is missing (Debian package tini)"
grep -qw tmpfs /proc/filesystems || die "the kernel has no tmpfs (instances' writable layers live on one)"
[ -x /usr/lib/cni/bridge ] || die "CNI plugins are missing in /usr/lib/cni (containernetworking-plugins)"
say "ok"
