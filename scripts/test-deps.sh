#!/usr/bin/env bash
# Installs the system packages the test suite uses, when missing (Debian/Ubuntu, as root).
# `make test` runs this first, so a fresh machine needs nothing else; it does nothing when
# everything is already there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have rsyslogd || need+=(rsyslog)      # syslog relay and auth-log tests
have mkfs.ext4 || need+=(e2fsprogs)   # inode-reuse rotation test, tmpfs/ext4 disk-full tests
have logger || need+=(bsdutils)       # syslog client tests
have curl || need+=(curl)
# The auth.log test runs real programs: OpenSSH's server and client, sshpass, sudo, shadow-utils.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh-keygen || need+=(openssh-client)
have sshpass || need+=(sshpass)
have sudo || need+=(sudo)
[ -x /usr/sbin/useradd ] || need+=(passwd)
# Packaging: the packages' interpreter, rpm (contents, scriptlets, a scratch root), systemd-analyze.
[ -x /usr/bin/python3.11 ] || need+=(python3.11)
python3.11 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3.11-venv)
have rpm || need+=(rpm)
have systemd-analyze || need+=(systemd)
[ -x /usr/sbin/nats-server ] || need+=(nats-server)  # Debian's 2.9: the fleet runs on it too (the venv has 2.15)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)  # make install
[ -x /usr/bin/chromium ] || need+=(chromium)  # the admin UI's browser test (Playwright drives it)
# S3 Object Lock tests run against a real Ceph RADOS Gateway (scripts/ceph-rgw.sh).
for tool in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw ceph:ceph-common; do
  have "${tool%%:*}" || need+=("${tool##*:}")
done
have promtool || need_promtool=1  # `promtool check metrics` on both expositions
if [ ${#need[@]} -eq 0 ] && [ -z "${need_promtool:-}" ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps.sh: the tests need these Debian packages: ${need[*]} ${need_promtool:+prometheus (promtool)}" >&2
  echo "test-deps.sh: run as root, or: sudo apt-get install --no-install-recommends ${need[*]}" >&2
  exit 1
fi
apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -n "${need_promtool:-}" ]; then
  # Only promtool from Debian's prometheus package: installing the package would also start a
  # Prometheus server on :9090.
  echo "test-deps.sh: installing promtool (from Debian's prometheus package) into /usr/local/bin" >&2
  scratch=$(mktemp -d) && chmod 755 "$scratch"  # apt downloads as _apt
  (cd "$scratch" && apt-get download -qq prometheus && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool)
  install -m 0755 "$scratch/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$scratch"
fi
