#!/bin/sh
# docker/engine.sh start|stop|status: a private Docker engine for machines
# where none runs (CI, containers, this project's build machines).
#
#   start   if an engine already answers (DOCKER_HOST, /var/run/docker.sock,
#           or ours) print "running DOCKER_HOST"; otherwise start dockerd
#           with its own folders under XENT_DOCKER_ROOT (default
#           /var/lib/xent-docker) and print "started DOCKER_HOST".
#   stop    stop the dockerd this script started (its pid file), if any.
#   status  print the DOCKER_HOST that answers, exit 1 when none does.
#
# Use it as:  export DOCKER_HOST=$(docker/engine.sh start | cut -d' ' -f2)
set -eu

root=${XENT_DOCKER_ROOT:-/var/lib/xent-docker}
sock=unix://$root/run/docker.sock
pidfile=$root/run/dockerd.pid

answers() {
  DOCKER_HOST=$1 timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

current() {
  if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
    echo "$DOCKER_HOST"
  elif answers unix:///var/run/docker.sock; then
    echo unix:///var/run/docker.sock
  elif answers "$sock"; then
    echo "$sock"
  else
    return 1
  fi
}

case "${1:-}" in
  status)
    current
    ;;
  start)
    if host=$(current); then
      echo "running $host"
      exit 0
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo mkdir -p "$root/data" "$root/exec" "$root/run"
    # setsid: the engine outlives this shell and a Ctrl-C in the terminal.
    $sudo setsid dockerd --data-root "$root/data" --exec-root "$root/exec" \
      --pidfile "$pidfile" --host "$sock" \
      >> "$root/run/dockerd.log" 2>&1 < /dev/null &
    i=0
    while [ $i -lt 60 ]; do
      if answers "$sock"; then
        echo "started $sock"
        exit 0
      fi
      sleep 0.5
      i=$((i + 1))
    done
    echo "engine: dockerd did not answer within 30 s; see $root/run/dockerd.log" >&2
    tail -n 20 "$root/run/dockerd.log" >&2 || true
    exit 1
    ;;
  stop)
    [ -f "$pidfile" ] || { echo "engine: no dockerd started from $root"; exit 0; }
    pid=$(cat "$pidfile")
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if kill -0 "$pid" 2>/dev/null; then
      $sudo kill -TERM "$pid"
      i=0
      while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
        sleep 0.5
        i=$((i + 1))
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "engine: dockerd $pid still running after 30 s" >&2
        exit 1
      fi
    fi
    $sudo rm -f "$pidfile"
    echo "engine: stopped dockerd $pid"
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
