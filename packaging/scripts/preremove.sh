#!/bin/sh
# auditseal-@PROGRAM@ pre-removal (deb: prerm remove|upgrade; rpm: %preun 0|1). Stops and
# disables the service when the package goes away, not on an upgrade.
set -e
removing=no
case "$1" in
  remove|0) removing=yes ;;
esac
if [ "$removing" = yes ] && [ -d /run/systemd/system ]; then
  systemctl disable --now auditseal-@PROGRAM@.service >/dev/null 2>&1 || true
fi
exit 0
