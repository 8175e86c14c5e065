#!/usr/bin/env bash
# A one-host Ceph cluster with a RADOS Gateway (real S3 with Object Lock) for tests and demos.
#
#   scripts/ceph-rgw.sh start DIR [PORT]   # prints the endpoint when S3 answers
#   scripts/ceph-rgw.sh stop DIR
#   scripts/ceph-rgw.sh gateway-stop|gateway-start DIR   # S3 outage, cluster kept
#
# One monitor, one OSD (bluestore on a sparse file), no manager, auth none, radosgw (beast)
# on 127.0.0.1:PORT, and an S3 user with the keys in $CEPH_ACCESS_KEY / $CEPH_SECRET_KEY
# (defaults below). Monitor ports 3300/6789 are fixed: one cluster per machine.
# Needs: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
set -euo pipefail

cmd=${1:?usage: ceph-rgw.sh start|stop DIR [PORT]}
dir=$(realpath -m "${2:?usage: ceph-rgw.sh start|stop DIR [PORT]}")
port=${3:-7480}
access=${CEPH_ACCESS_KEY:-auditsealtest}
secret=${CEPH_SECRET_KEY:-auditsealtestsecret}
conf="$dir/ceph.conf"

stop() {
  for daemon in radosgw osd mon; do
    pidfile="$dir/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "ceph-rgw.sh: $what did not come up in ${seconds}s; logs in $dir/log" >&2
  return 1
}

start() {
  for tool in ceph-mon ceph-osd radosgw monmaptool radosgw-admin ceph; do
    command -v "$tool" >/dev/null || { echo "ceph-rgw.sh: $tool not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)" >&2; exit 2; }
  done
  stop
  if (exec 3<>/dev/tcp/127.0.0.1/3300) 2>/dev/null; then
    echo "ceph-rgw.sh: a Ceph monitor already listens on 127.0.0.1:3300 (one cluster per machine); stop it first" >&2
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir/mon" "$dir/osd" "$dir/log" "$dir/run" "$dir/rgw"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = 127.0.0.1
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
paxos propose interval = 0.05
paxos min wait = 0.01
log file = $dir/log/\$name.log
run dir = $dir/run
admin socket = $dir/run/\$name.asok
mon data = $dir/mon
osd data = $dir/osd
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mount = false
osd max object name len = 256
osd max object namespace len = 64
mon warn on pool no redundancy = false
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw enable usage log = false
rgw dns name = localhost
# SSE-KMS for tests: Ceph's "testing" KMS backend with one fixed key id (never for production).
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = auditseal-test-key=$(head -c 32 /dev/urandom | base64)
EOF
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --pid-file "$dir/mon.pid"
  wait_for 30 "ceph-mon" ceph -c "$conf" --connect-timeout 2 mon stat
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph -c "$conf" osd new "$osd_uuid")
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 || { echo "ceph-rgw.sh: ceph-osd --mkfs failed; see $dir/log" >&2; exit 1; }
  ceph-osd -c "$conf" -i "$osd_id" --pid-file "$dir/osd.pid" 2>>"$dir/log/osd.err"
  wait_for 60 "ceph-osd" bash -c "ceph -c '$conf' osd stat | grep -q '1 up'"
  radosgw -c "$conf" -n client.rgw.a --pid-file "$dir/radosgw.pid" 2>>"$dir/log/rgw.err"
  wait_for 90 "radosgw" curl -sf "http://127.0.0.1:$port/"
  radosgw-admin -c "$conf" user create --uid auditseal --display-name auditseal \
    --access-key "$access" --secret-key "$secret" >/dev/null
  echo "http://127.0.0.1:$port"
}

# The gateway alone, for outage tests: the cluster keeps running behind it.
gateway_stop() {
  [ -f "$dir/radosgw.pid" ] || return 0
  pid=$(cat "$dir/radosgw.pid"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$dir/radosgw.pid"
}
gateway_start() {
  port=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$conf")
  radosgw -c "$conf" -n client.rgw.a --pid-file "$dir/radosgw.pid" 2>>"$dir/log/rgw.err"
  wait_for 90 "radosgw" curl -sf "http://127.0.0.1:$port/"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  gateway-stop) gateway_stop ;;
  gateway-start) gateway_start ;;
  *) echo "usage: ceph-rgw.sh start|stop|gateway-stop|gateway-start DIR [PORT]" >&2; exit 2 ;;
esac
