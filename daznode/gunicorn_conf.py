"""Gunicorn's configuration, used by docker/Procfile and docker/entrypoint.sh (`-c python:daznode.gunicorn_conf`).

Threaded workers: a login spends about a second of CPU checking its password, and with one request per process
(the sync worker) a few logins held every worker while reads queued behind them. With threads, reads are served
beside a login in progress; daznode.api.PasswordCheckSlots bounds how many logins hash at once per process.
"""

from daznode.env import env_bool, env_int, env_str

bind = env_str("DAZNODE_BIND", "127.0.0.1:8000")
workers = env_int("DAZNODE_WEB_WORKERS", 2, minimum=1)
worker_class = "gthread"
threads = env_int("DAZNODE_WEB_THREADS", 8, minimum=1)
# Load Django once in the master, before forking: the workers share its pages (copy-on-write), which halves the
# PSS of two workers (tests/benchmarks/bench_idle_memory.py). With one worker it only keeps a second copy of
# Django mapped in the master: about 12 MB less PSS but 35 MB more RSS, so it is off there unless asked for.
preload_app = env_bool("DAZNODE_WEB_PRELOAD", workers > 1)
accesslog = "-"
