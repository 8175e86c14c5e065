#!/bin/sh
# auditseal-@PROGRAM@ post-install (deb: configure; rpm: %post). Creates the system user and the
# state directory, makes the config readable by the service only, reloads systemd. It never
# starts the service: the config needs this host's certificate and key first (docs/install.md).
set -e
if ! getent group auditseal >/dev/null; then
  groupadd --system auditseal
fi
if ! getent passwd auditseal >/dev/null; then
  useradd --system --gid auditseal --home-dir /var/lib/auditseal --no-create-home \
    --shell /usr/sbin/nologin --comment "auditseal services" auditseal
fi
install -d -m 0750 -o auditseal -g auditseal /var/lib/auditseal /var/lib/auditseal/@PROGRAM@
install -d -m 0750 -o root -g auditseal /etc/auditseal /etc/auditseal/pki
chgrp auditseal /etc/auditseal/@PROGRAM@.yaml && chmod 0640 /etc/auditseal/@PROGRAM@.yaml
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  # An upgrade restarts a running service on the new version; a fresh install starts nothing.
  if systemctl is-active --quiet auditseal-@PROGRAM@.service; then
    systemctl restart auditseal-@PROGRAM@.service || true
  fi
fi
exit 0
