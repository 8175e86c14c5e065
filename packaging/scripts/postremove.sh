#!/bin/sh
# auditseal-@PROGRAM@ post-removal. "remove" keeps the config and the state (the spool may still
# hold events not yet acknowledged); "purge" (deb) deletes both. The auditseal user stays, as
# files it owned may remain elsewhere.
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/auditseal/@PROGRAM@
  rmdir /var/lib/auditseal 2>/dev/null || true
  rm -f /etc/auditseal/@PROGRAM@.yaml
  rmdir /etc/auditseal/pki /etc/auditseal 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
