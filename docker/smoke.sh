#!/bin/sh
# `make compose-smoke`: build the image, bring the whole stack up under the offline-docker harness (host network,
# 127.0.0.1, test ports) against a simulated LND container, check it through Caddy (healthz, admin login page, a
# JWT, an API read), fetch the graph and run a dry-run fee cycle, kill the worker and see Docker restart it, restart
# the stack and see the graph served from its volumes without a fetch; then tear it down with its volumes. Prints
# the build time, the time until every service is healthy, and the image size.
# Usage: docker/smoke.sh PATH_TO_OFFLINE_DOCKER PYTHON
set -eu
OFFLINE_DOCKER=$1
PYTHON=$2
PROJECT=daznode-smoke
HTTPS_PORT=28414
BASE="https://localhost:$HTTPS_PORT"

work=$(mktemp -d)
export DAZNODE_SMOKE_SECRETS="$work/secrets" DAZNODE_HTTPS_PORT="$HTTPS_PORT"
export DAZNODE_LND_DIR="$work/lnd" DAZNODE_LND_URL="https://127.0.0.1:28080"
mkdir -p "$DAZNODE_LND_DIR"
chown 1000 "$DAZNODE_LND_DIR" 2>/dev/null || chmod 0777 "$DAZNODE_LND_DIR"
compose() {
  "$OFFLINE_DOCKER" compose -f docker/compose.yml -f docker/compose.lnd.yml -f docker/compose.offline.yml \
    -p "$PROJECT" "$@"
}
manage() {  # a management command in the running worker container
  compose exec -T worker python manage.py "$@"
}
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    compose ps -a || true
    compose logs --tail 40 || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

DAZNODE_DATA_DIR="$work/data" "$PYTHON" manage.py init_secrets --dir "$DAZNODE_SMOKE_SECRETS" >/dev/null
"$OFFLINE_DOCKER" setup >/dev/null

started=$(date +%s)
compose build
built=$(date +%s)
compose up -d --wait --wait-timeout 300
healthy=$(date +%s)

fetch() {  # the proxy signs with Caddy's local CA: -k, as a LAN browser would after trusting it
  curl -ksS --max-time 20 "$@"
}
expect() {  # expect WHAT ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: got $2, expected $3" >&2
    exit 1
  fi
  echo "ok: $1"
}
expect "/healthz through the proxy" "$(fetch -o /dev/null -w '%{http_code}' "$BASE/healthz")" 200
login_page=$(fetch "$BASE/admin/login/")
expect "admin login page" "$(echo "$login_page" | grep -c 'csrfmiddlewaretoken')" 1
password=$(cat "$DAZNODE_SMOKE_SECRETS/admin_password")
# A browser's login: CSRF token and cookie, Origin and Referer through the proxy (HTTPS seen by Django).
fetch -c "$work/cookies" -o /dev/null "$BASE/admin/login/"
csrf=$(fetch -b "$work/cookies" -c "$work/cookies" "$BASE/admin/login/" \
  | sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -1)
login=$(fetch -b "$work/cookies" -c "$work/cookies" -o /dev/null -w '%{http_code} %{redirect_url}' \
  -H "Origin: $BASE" -H "Referer: $BASE/admin/login/" --data-urlencode "csrfmiddlewaretoken=$csrf" \
  --data-urlencode "username=admin" --data-urlencode "password=$password" --data-urlencode "next=/admin/" \
  "$BASE/admin/login/")
expect "admin login through the proxy (CSRF, secure cookie)" "$login" "302 $BASE/admin/"
token=$(fetch -H 'Content-Type: application/json' -d "{\"username\": \"admin\", \"password\": \"$password\"}" \
  "$BASE/api/v1/auth/token" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access"])')
expect "a JWT for the admin" "$(test -n "$token" && echo yes)" yes
me=$(fetch -H "Authorization: Bearer $token" "$BASE/api/v1/me" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["username"])')
expect "an API read with it" "$me" admin
expect "HTTPS is what Django sees (no redirect loop)" "$(fetch -o /dev/null -w '%{http_code}' "$BASE/admin/")" 302
for service in web worker beat caddy postgres redis; do
  expect "$service healthy" "$(compose ps --format '{{.Health}}' "$service")" healthy
done


migrate_log=$(compose logs --no-log-prefix migrate)
expect "migrate printed the proxy's URL" "$(echo "$migrate_log" | grep -c "Admin:     $BASE/admin/")" 1
expect "migrate imported the simulated LND" "$(echo "$migrate_log" | grep -c "LND source 'lnd' at $DAZNODE_LND_URL")" 1
expect "graph fetched from LND" "$(manage refresh_graph --source lnd --force | grep -c 'Fetched from lnd')" 1
expect "a dry-run fee cycle" "$(manage fee_cycle --mode dry_run >/dev/null && echo done)" done

worker=$(compose ps -q worker)
restarts=$(docker inspect -f '{{.RestartCount}}' "$worker")
compose exec -T worker sh -c "kill -TERM 1" || true
wait_healthy() {  # wait_healthy SERVICE SECONDS
  deadline=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ "$(compose ps --format '{{.Health}}' "$1")" = healthy ] \
      && [ "$(docker inspect -f '{{.RestartCount}}' "$worker")" -gt "$restarts" ] && return 0
    sleep 3
  done
  return 1
}
expect "worker killed, restarted by Docker and healthy again" "$(wait_healthy worker 180 && echo yes)" yes

graph_hash() {  # the hash of the graph the API serves, through the proxy, with a fresh token
  password=$(cat "$DAZNODE_SMOKE_SECRETS/admin_password")
  token=$(fetch -H 'Content-Type: application/json' -d "{\"username\": \"admin\", \"password\": \"$password\"}" \
    "$BASE/api/v1/auth/token" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access"])')
  fetch -o /dev/null -D - -H "Authorization: Bearer $token" "$BASE/api/v1/graph" \
    | sed -n 's/^x-daznode-snapshot-hash: *\([0-9a-f]*\).*/\1/ip'
}
before=$(graph_hash)
expect "the API serves the graph, with its hash" "$(echo "$before" | grep -cE '^[0-9a-f]{64}$')" 1
compose down
compose up -d --wait --wait-timeout 300
compose stop lnd
expect "after down and up, the graph is fresh: no fetch (LND is stopped)" \
  "$(manage refresh_graph | grep -c 'Still fresh, not fetched')" 1
expect "after down and up, the API serves the same graph from the volumes" "$(graph_hash)" "$before"

# Idle memory of the Daznode roles (the cgroup's figure, page cache included), for the README's table.
sleep 10
docker stats --no-stream --format '{{.Name}}: {{.MemUsage}}' \
  $(compose ps -q web) $(compose ps -q worker) $(compose ps -q beat)
size_bytes=$(docker image inspect daznode:local --format '{{.Size}}')
echo "build: $((built - started)) s; up until healthy: $((healthy - built)) s; image daznode:local: $((size_bytes / 1000000)) MB"
