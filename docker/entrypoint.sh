#!/bin/sh
# web: migrate, create the first admin, sync the schedule, then serve. worker and beat wait for web's
# migrations through compose's depends_on (service_healthy).
set -e
case "$1" in
  web)
    python manage.py bootstrap --url "${DAZNODE_PUBLIC_URL:-http://localhost:8000}"
    exec gunicorn daznode.wsgi -c python:daznode.gunicorn_conf --bind 0.0.0.0:8000
    ;;
  worker)
    exec celery -A daznode worker --loglevel INFO --concurrency "${DAZNODE_WORKER_CONCURRENCY:-2}"
    ;;
  beat)
    exec celery -A daznode beat --loglevel INFO --pidfile=
    ;;
  *)
    exec "$@"
    ;;
esac
