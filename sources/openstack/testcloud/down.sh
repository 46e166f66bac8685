#!/bin/bash
# down.sh - stop every service up.sh started, by the pids / process groups it
# recorded in $S/run (each service was started with setsid, so pgid == pid;
# nothing is killed by name).  --purge also deletes all state (databases,
# configs, logs) so the next up.sh starts from scratch; packages stay.
set -u
S=${TESTCLOUD_DIR:-/tmp/flowscape-testcloud}
R=$S/run

alive() { [ -f "$R/$1.pid" ] && kill -0 "$(cat "$R/$1.pid")" 2>/dev/null; }
stop_all() {  # stop_all NAME... : TERM all groups, wait <=10 s, KILL leftovers
  local n i left
  for n in "$@"; do
    alive $n && { kill -TERM -- "-$(cat $R/$n.pid)" 2>/dev/null || kill -TERM "$(cat $R/$n.pid)"; }
  done
  for i in $(seq 1 50); do
    left=""; for n in "$@"; do alive $n && left="$left $n"; done
    [ -z "$left" ] && break; sleep 0.2
  done
  for n in "$@"; do
    [ -f $R/$n.pid ] || continue
    kill -KILL -- "-$(cat $R/$n.pid)" 2>/dev/null || true   # stray workers
    echo "stopped $n ($(cat $R/$n.pid))"; rm -f $R/$n.pid
  done
}

rm -f $S/ready
svcs=""
for f in $R/*.pid; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .pid)
  case $n in rabbitmq|epmd|mysql) ;; *) svcs="$svcs $n" ;; esac
done
[ -n "$svcs" ] && stop_all $svcs
if alive rabbitmq; then
  ( export HOME=$S/data/rabbitmq RABBITMQ_NODENAME=rabbit@localhost ERL_EPMD_ADDRESS=127.0.0.1
    timeout 30 /usr/lib/rabbitmq/bin/rabbitmqctl -q stop >/dev/null 2>&1 || true )
fi
stop_all rabbitmq mysql
stop_all epmd
if [ "${1:-}" = --purge ]; then
  rm -rf $S/etc $S/data $S/log $S/run $S/openrc
  echo "purged state under $S"
fi
