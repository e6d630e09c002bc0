#!/bin/sh
# docker/check.sh: the body of `make docker-check` (run from the repository
# root; the Makefile passes BUILD, MAKE, PYTHON and VERSION).
#
#  1. a Docker engine (docker/engine.sh starts one when none answers)
#  2. the base image debian:bookworm-slim (docker/base-image.sh)
#  3. the xent image (docker/Dockerfile; the C unit tests run in its build)
#  4. one container, read-only root, no capabilities, port 127.0.0.1:<free>:
#     healthy, non-root, /healthz and X-Xent-Replica, the integration tests
#     with XENT_URL (the /v1 and /v2 stages and the metrics), SIGTERM
#     exits 0
#  5. docker/compose.yaml with 3 replicas behind nginx: 300 exact requests
#     spread over the 3, then one replica stopped under traffic and 100 more
#  6. the Kubernetes manifests (docker/k8s/check-manifests.sh)
# Everything it starts is removed at the end, on failure too.
# Knobs: XENT_DOCKER_NETWORK (default|host, for the image builds; probed when
# unset), XENT_DOCKERFILE (another Dockerfile to test), XENT_DOCKER_ROOT
# (docker/engine.sh's folder).
set -u

BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-/usr/bin/python3}
VERSION=${VERSION:-unknown}
IMAGE=${XENT_IMAGE:-xent}
DOCKERFILE=${XENT_DOCKERFILE:-docker/Dockerfile}
NGINX_IMAGE=xent-nginx
PROJECT=xentcheck
SINGLE=xentcheck-single
out=$BUILD/docker
results=$BUILD/docker-results.txt
mkdir -p "$out"
rm -f "$results"

started_engine=0
compose_up=0
t_start=$(date +%s)
t_step=$t_start

record() { tests/record "$results" "$1" "$2" "$3"; }
pass() { echo "  ok   $2"; record "$1" 1 0; }
fail() { echo "  FAIL $2"; record "$1" 0 1; }
step() {
  now=$(date +%s)
  echo "== $1 (at $((now - t_start)) s)"
  t_step=$now
}
took() { echo "   ($(( $(date +%s) - t_step )) s)"; }

compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f docker/compose.yaml -p "$PROJECT" "$@"
  else
    docker compose -f docker/compose.yaml -p "$PROJECT" "$@"
  fi
}

cleanup() {
  rc=$?
  trap - EXIT INT TERM
  echo "== teardown"
  if [ "$compose_up" -eq 1 ]; then
    compose down --remove-orphans --timeout 20 >"$out/compose-down.log" 2>&1 \
      || echo "   compose down failed: see $out/compose-down.log"
  fi
  docker rm -f "$SINGLE" >/dev/null 2>&1 || true
  left=$(docker ps -q --filter "name=$PROJECT" 2>/dev/null | wc -l)
  [ "$left" -eq 0 ] || echo "   WARNING: $left containers named $PROJECT* still run"
  if [ "$started_engine" -eq 1 ]; then
    docker/engine.sh stop
  fi
  echo "docker-check took $(( $(date +%s) - t_start )) s"
  tests/summary "$results" docker-check || rc=1
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ engine ------
step "Docker engine"
if ! engine=$(docker/engine.sh start); then
  fail engine "a Docker engine answers"
  exit 1
fi
case "$engine" in started*) started_engine=1 ;; esac
DOCKER_HOST=${engine#* }
export DOCKER_HOST
pass engine "engine at $DOCKER_HOST (${engine%% *})"

# -------------------------------------------------------- base image ------
step "base image debian:bookworm-slim"
if docker/base-image.sh debian:bookworm-slim; then
  pass base-image "debian:bookworm-slim present"
else
  fail base-image "debian:bookworm-slim"
  exit 1
fi
took

# Can a container reach the Debian mirror on the default bridge? Otherwise
# the image builds use the host's network (XENT_DOCKER_NETWORK overrides).
network=${XENT_DOCKER_NETWORK:-}
if [ -z "$network" ]; then
  # shellcheck disable=SC2016 # expanded by bash inside the container
  probe='u=$(sed -n "s/^deb \([^ ]*\) .*/\1/p" /etc/apt/sources.list | head -n 1)
         case $u in https:*) p=443 ;; *) p=80 ;; esac
         h=${u#*://}; h=${h%%/*}; exec 3<>/dev/tcp/$h/$p'
  if timeout 20 docker run --rm debian:bookworm-slim bash -c "$probe" 2>/dev/null; then
    network=default
  else
    network=host
  fi
fi
echo "   image builds use the $network network"

# --------------------------------------------------------- the image ------
step "image $IMAGE:$VERSION ($DOCKERFILE, make all + check-unit inside)"
if docker build --force-rm --network "$network" -f "$DOCKERFILE" \
    --build-arg VERSION="$VERSION" -t "$IMAGE:$VERSION" -t "$IMAGE:latest" . \
    >"$out/image-build.log" 2>&1; then
  grep -E '^[0-9]+%: Checks: |^check-unit' "$out/image-build.log" | sed 's/^/   /'
  pass image-build "image built; the unit tests passed inside the build"
else
  tail -n 40 "$out/image-build.log"
  fail image-build "docker build (log: $out/image-build.log)"
  exit 1
fi
size=$(docker image inspect --format '{{.Size}}' "$IMAGE:latest")
base_size=$(docker image inspect --format '{{.Size}}' debian:bookworm-slim)
echo "   image size: $size bytes ($((size / 1048576)) MiB; base image $((base_size / 1048576)) MiB)"
took

step "nginx image $NGINX_IMAGE (docker/nginx/Dockerfile)"
if docker build --force-rm --network "$network" -t "$NGINX_IMAGE:latest" docker/nginx \
    >"$out/nginx-build.log" 2>&1; then
  pass nginx-image "nginx image built"
else
  tail -n 20 "$out/nginx-build.log"
  fail nginx-image "nginx image (log: $out/nginx-build.log)"
fi
took

# -------------------------------------------------- single container ------
step "container $SINGLE"
docker rm -f "$SINGLE" >/dev/null 2>&1 || true
if ! docker run -d --name "$SINGLE" --hostname xent-single \
    --read-only --cap-drop ALL --security-opt no-new-privileges \
    -p 127.0.0.1::8080 "$IMAGE:latest" >/dev/null; then
  fail container-run "docker run"
  exit 1
fi
health=none
i=0
while [ $i -lt 120 ]; do
  health=$(docker inspect --format '{{.State.Health.Status}}' "$SINGLE" 2>/dev/null)
  state=$(docker inspect --format '{{.State.Status}}' "$SINGLE" 2>/dev/null)
  [ "$health" = healthy ] || [ "$state" != running ] && break
  sleep 0.5
  i=$((i + 1))
done
if [ "$health" = healthy ]; then
  pass container-healthy "HEALTHCHECK healthy after about $((i / 2)) s"
else
  docker logs --tail 30 "$SINGLE" 2>&1 | sed 's/^/   | /'
  fail container-healthy "health '$health', state '$state'"
  exit 1
fi
addr=$(docker port "$SINGLE" 8080/tcp | grep '^127\.0\.0\.1:' | head -n 1)
url=http://$addr
echo "   xentd at $url"

uid=$(docker exec "$SINGLE" id -u)
if [ "$uid" != 0 ] && [ -n "$uid" ]; then
  pass container-user "xentd runs as uid $uid, not root"
else
  fail container-user "xentd runs as uid '$uid'"
fi
headers=$(curl -sS -D - -o "$out/healthz.json" --max-time 5 "$url/healthz" | tr -d '\r')
if printf '%s\n' "$headers" | head -n 1 | grep -q ' 200' \
    && printf '%s\n' "$headers" | grep -qix 'x-xent-replica: xent-single' \
    && grep -q "\"$VERSION\"" "$out/healthz.json"; then
  pass container-healthz "GET /healthz 200, version $VERSION, X-Xent-Replica: xent-single"
else
  printf '%s\n' "$headers" | sed 's/^/   | /'
  fail container-healthz "GET /healthz (body: $(head -c 200 "$out/healthz.json"))"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/readyz")
if [ "$code" = 200 ]; then
  pass container-readyz "GET /readyz 200"
else
  fail container-readyz "GET /readyz answered $code"
fi

# The project's own test stages, pointed at the container. Their counts are
# copied into this summary with a docker- prefix.
run_stage() {
  stage=$1
  before=0
  [ -f "$BUILD/results.txt" ] && before=$(wc -l < "$BUILD/results.txt")
  echo "   make $stage XENT_URL=$url"
  XENT_URL=$url $MAKE --no-print-directory BUILD="$BUILD" "$stage" XENT_URL="$url" \
    >"$out/$stage.log" 2>&1
  src=$?
  tail -n 15 "$out/$stage.log" | sed 's/^/   | /'
  added=0
  if [ -f "$BUILD/results.txt" ]; then
    tail -n +$((before + 1)) "$BUILD/results.txt" > "$out/$stage.results"
    added=$(wc -l < "$out/$stage.results")
    sed 's/^/docker-/' "$out/$stage.results" >> "$results"
  fi
  if [ "$src" -ne 0 ] && [ "$added" -eq 0 ]; then
    fail "docker-$stage" "make $stage failed before recording (log: $out/$stage.log)"
  fi
}
step "test stages against the container"
if $MAKE -n BUILD="$BUILD" check-integration >/dev/null 2>&1; then
  run_stage check-integration
else
  fail docker-check-integration "no check-integration target"
fi
# Other stages join in when their fragment reads XENT_URL.
for stage in check-examples check-readme check-crosslang check-v2 \
    check-v2-clients check-v2-crosslang check-v2-regressions \
    check-metrics-http; do
  frag=$(grep -l "^$stage:" ./*/*.mk ./tests/*/*.mk 2>/dev/null | head -n 1)
  if [ -n "$frag" ] && grep -q XENT_URL "$frag"; then
    run_stage "$stage"
  else
    echo "   $stage: not run (no fragment defines it with XENT_URL)"
  fi
done
took

step "SIGTERM"
if docker stop --time 20 "$SINGLE" >/dev/null; then
  ec=$(docker inspect --format '{{.State.ExitCode}}' "$SINGLE")
  if [ "$ec" = 0 ]; then
    pass container-sigterm "docker stop: xentd drained and exited 0"
  else
    docker logs --tail 10 "$SINGLE" 2>&1 | sed 's/^/   | /'
    fail container-sigterm "docker stop: exit code $ec"
  fi
else
  fail container-sigterm "docker stop failed"
fi
docker rm -f "$SINGLE" >/dev/null 2>&1

# ----------------------------------------------------------- compose ------
step "compose: 3 replicas behind nginx"
lbport=$($PYTHON -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
XENT_LB_PORT=$lbport
export XENT_LB_PORT
compose_up=1
if compose up -d --no-build --scale xentd=3 >"$out/compose-up.log" 2>&1; then
  pass compose-up "compose up --scale xentd=3, nginx on 127.0.0.1:$lbport"
else
  tail -n 20 "$out/compose-up.log"
  fail compose-up "compose up (log: $out/compose-up.log)"
  exit 1
fi
lb=http://127.0.0.1:$lbport
i=0
while [ $i -lt 60 ] && ! curl -sf --max-time 2 -o /dev/null "$lb/healthz"; do
  sleep 0.5
  i=$((i + 1))
done
$PYTHON docker/balance_check.py --url "$lb" --requests 300 --expect-replicas 3 \
  --record "$results" compose-balance
victim=$(compose ps -q xentd | head -n 1)
victim_name=$(docker inspect --format '{{.Config.Hostname}}' "$victim")
echo "   stopping replica $victim_name under traffic"
$PYTHON docker/balance_check.py --url "$lb" --requests 100 --expect-replicas 2 \
  --stop "$victim" --stop-name "$victim_name" --record "$results" compose-failover
took

# -------------------------------------------------------- kubernetes ------
step "Kubernetes manifests"
docker/k8s/check-manifests.sh "$results"

# cleanup (the EXIT trap) tears down and prints the summary.
