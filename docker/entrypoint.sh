#!/bin/sh
# One image, one role per container, chosen by the first argument:
#   migrate  apply migrations, create the first admin, sync the schedule, print where to log in, import the LND
#            node of DAZNODE_LND_URL into the vault; then exit
#   web      gunicorn on DAZNODE_BIND (daznode/gunicorn_conf.py reads it)
#   worker   the Celery worker
#   beat     the Celery scheduler (it writes the heartbeat its healthcheck reads)
#   worker-with-beat   the worker with the scheduler embedded (one container less, for a small box such as
#            Umbrel's); run exactly one of it and no separate beat, or each task is sent twice
#   healthcheck web|worker|beat|worker-with-beat   exit 0 when that role is healthy
# DAZNODE_WORKER_POOL (prefork, or solo to run tasks in the worker's own process) and DAZNODE_WORKER_CONCURRENCY
# shape the worker; solo saves a process of about 95 MB but enforces no task time limit.
# Anything else runs as a command (for example `manage.py createsuperuser`).
set -e

export DAZNODE_BIND="${DAZNODE_BIND:-0.0.0.0:8000}"

# Compose mounts secret files with the host file's owner and mode: say how to fix an unreadable one, by name.
# Daznode's own *_FILE variables only (daznode.env.env_secret), not those of other software in the environment.
check_secret_files() {
  for name in $(env | sed -n 's/^\(\(SECRET_KEY\|DATABASE_URL\|REDIS_URL\|DAZNODE_[A-Z0-9_]*\)_FILE\)=.*/\1/p'); do
    path=$(printenv "$name")
    if [ ! -r "$path" ]; then
      echo "daznode: $name=$path is not readable by uid $(id -u)." >&2
      echo "  Create the secrets with: python manage.py init_secrets --dir docker/secrets" >&2
      echo "  or make the file readable: sudo chown $(id -u) FILE && chmod 0400 FILE" >&2
      exit 78
    fi
  done
}

# Where the operator opens Daznode: DAZNODE_PUBLIC_URL when set (behind the proxy), else what gunicorn binds.
public_url() {
  if [ -n "$DAZNODE_PUBLIC_URL" ]; then
    echo "$DAZNODE_PUBLIC_URL"
    return
  fi
  host="${DAZNODE_BIND%:*}"
  port="${DAZNODE_BIND##*:}"
  case "$host" in
    0.0.0.0 | "" | "[::]") host=localhost ;;
  esac
  echo "http://$host:$port"
}

case "$1" in
  migrate)
    check_secret_files
    python manage.py bootstrap --url "$(public_url)"
    # The LND node given as DAZNODE_LND_URL and mounted files, into the vault (does nothing without the URL).
    exec python manage.py lnd_import
    ;;
  web)
    check_secret_files
    exec gunicorn daznode.wsgi -c python:daznode.gunicorn_conf
    ;;
  worker)
    check_secret_files
    exec celery -A daznode worker --loglevel INFO --concurrency "${DAZNODE_WORKER_CONCURRENCY:-2}" \
      --pool "${DAZNODE_WORKER_POOL:-prefork}"
    ;;
  worker-with-beat)
    check_secret_files
    # Beat runs in a process forked from the worker, sharing its pages, and writes the same heartbeat.
    exec celery -A daznode worker --beat --loglevel INFO --concurrency "${DAZNODE_WORKER_CONCURRENCY:-2}" \
      --pool "${DAZNODE_WORKER_POOL:-prefork}"
    ;;
  beat)
    check_secret_files
    exec celery -A daznode beat --loglevel INFO --pidfile=
    ;;
  healthcheck)
    if [ "$2" = worker-with-beat ]; then
      # Healthy when both halves are: the scheduler ticks and the worker answers.
      python docker/healthcheck.py beat
      exec python docker/healthcheck.py worker
    fi
    exec python docker/healthcheck.py "$2"
    ;;
  *)
    exec "$@"
    ;;
esac
