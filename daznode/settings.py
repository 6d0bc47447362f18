"""Daznode settings: read from the environment only, through the typed helpers in daznode.env.

Every variable is documented in README.md ("Configuration"). A malformed value stops start-up with a message
that names the variable.
"""

import ipaddress
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from daznode.bounded_json import JSON_MAX_DEPTH
from daznode.env import (
    env_bool,
    env_choice,
    env_duration,
    env_int,
    env_list,
    env_pairs,
    env_rate,
    env_secret,
    env_str,
    env_url,
    file_created_once,
)
from daznode.lightning import (
    DEFAULT_ALLOW_ZERO_FEE,
    DEFAULT_DAILY_CHANGE_BUDGET,
    DEFAULT_FEE_COOLDOWN,
    DEFAULT_MAX_BASE_FEE_MSAT,
    DEFAULT_MAX_BASE_STEP_MSAT,
    DEFAULT_MAX_FEE_RATE_PPM,
    DEFAULT_MAX_STEP_PCT,
    DEFAULT_MAX_STEP_PPM,
    DEFAULT_MAX_TIME_LOCK_DELTA,
    DEFAULT_MIN_BASE_FEE_MSAT,
    DEFAULT_MIN_CHANGE_PPM,
    DEFAULT_MIN_FEE_RATE_PPM,
    LND_MIN_TIME_LOCK_DELTA,
    UINT16_MAX,
    parse_chan_id,
    parse_pubkey,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DAZNODE_ENV = env_choice("DAZNODE_ENV", "dev", ("dev", "prod"))
IS_PROD = DAZNODE_ENV == "prod"

DATA_DIR = Path(env_str("DAZNODE_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Django's own check (security.W009) wants at least 50 characters with some variety.
MIN_SECRET_KEY_LENGTH = 50


def _secret_key() -> str:
    key = env_secret("SECRET_KEY")
    if IS_PROD:
        if key is None:
            raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DAZNODE_ENV=prod")
        if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
            raise ImproperlyConfigured(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} random characters")
        return key
    if key is not None:
        return key
    # In dev, keep a generated key in the data directory so that sessions survive restarts.
    return file_created_once(DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(64)).strip()


SECRET_KEY = _secret_key()

DEBUG = env_bool("DEBUG", not IS_PROD)
if IS_PROD and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DAZNODE_ENV=prod")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PROD else ["localhost", "127.0.0.1", "[::1]"])
if IS_PROD and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DAZNODE_ENV=prod (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if not origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {origin!r}")

# Production serves over HTTPS unless the operator says otherwise (for example on a LAN without TLS).
HTTPS = env_bool("DAZNODE_HTTPS", IS_PROD)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Load balancers and Docker probe /healthz over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DAZNODE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("DAZNODE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# The dashboard's own login page (the admin keeps its own); Umbrel opens apps in a new tab, never in a frame.
LOGIN_URL = "ui:login"
LOGIN_REDIRECT_URL = "ui:dashboard"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "daznode",
    "auth_vault",
    "sources",
    "channels",
    "decisions",
]

MIDDLEWARE = [
    # First: probes come by addresses and container names that ALLOWED_HOSTS does not list.
    "daznode.middleware.HealthzMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "daznode.urls"
WSGI_APPLICATION = "daznode.wsgi.application"
ASGI_APPLICATION = "daznode.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "daznode.context_processors.daznode",
                "decisions.context_processors.kill_switch",
            ],
        },
    },
]

# Database: PostgreSQL (psycopg 3) when DATABASE_URL is set, otherwise SQLite in the data directory.
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "daznode.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat write to one file: WAL and immediate transactions avoid
    # "database is locked" errors, and a file-backed test database lets a test's worker process share it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (level 1 of the graph cache) and Celery broker: Redis when REDIS_URL is set, otherwise files in the
# data directory, which the web server, the worker and beat all share without any service installed.
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
CACHE_KEY_PREFIX = env_str("DAZNODE_CACHE_PREFIX", "daznode")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DAZNODE_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In dev, serve static files straight from the apps so that `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = not IS_PROD
WHITENOISE_AUTOREFRESH = not IS_PROD

LOG_LEVEL = env_choice("DAZNODE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": sys.stderr},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Our clients log each request once, structured (sources.clients); httpx would repeat every URL.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Celery. Without Redis the embedded broker is kombu's filesystem transport: messages are files under the
# data directory, so separate worker and beat processes share it, and results are files too.
CELERY_BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    for folder in ("queue", "processed", "control", "results"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_BROKER_DIR / 'results'}"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TIMEZONE = TIME_ZONE
# Tasks are idempotent, so a task lost with its worker is redelivered rather than dropped.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("DAZNODE_TASK_TIME_LIMIT_SECONDS", 30 * 60, minimum=10)
# django-celery-beat's DatabaseScheduler, plus a heartbeat file the container healthcheck reads.
CELERY_BEAT_SCHEDULER = "daznode.beat:HeartbeatScheduler"

# The periodic work, upserted into django-celery-beat by name when beat starts (daznode.schedule). Each
# interval is overridable from the environment; a run that has not started within its interval expires,
# because the next one is already due.
PRUNE_HEALTH_CHECKS_EVERY = env_duration("DAZNODE_PRUNE_HEALTH_CHECKS_EVERY", timedelta(hours=1))
PRUNE_GRAPH_SNAPSHOTS_EVERY = env_duration("DAZNODE_PRUNE_GRAPH_SNAPSHOTS_EVERY", timedelta(hours=1))
PRUNE_ACCESS_LOG_EVERY = env_duration("DAZNODE_PRUNE_ACCESS_LOG_EVERY", timedelta(days=1))
CHECK_SOURCES_EVERY = env_duration("DAZNODE_CHECK_SOURCES_EVERY", timedelta(seconds=60))
REFRESH_GRAPH_EVERY = env_duration("DAZNODE_REFRESH_GRAPH_EVERY", timedelta(minutes=30))
SCORE_CHANNELS_EVERY = env_duration("DAZNODE_SCORE_CHANNELS_EVERY", timedelta(hours=1))
FEE_CYCLE_EVERY = env_duration("DAZNODE_FEE_CYCLE_EVERY", timedelta(hours=6))
RECOVER_POLICY_WRITES_EVERY = env_duration("DAZNODE_RECOVER_POLICY_WRITES_EVERY", timedelta(minutes=5))
DAZNODE_BEAT_SCHEDULE = {
    "fee-cycle": {
        "task": "decisions.tasks.fee_cycle",
        "every": FEE_CYCLE_EVERY,
        "expires": FEE_CYCLE_EVERY,
    },
    "recover-policy-writes": {
        "task": "decisions.tasks.recover_policy_writes",
        "every": RECOVER_POLICY_WRITES_EVERY,
        "expires": RECOVER_POLICY_WRITES_EVERY,
    },
    "sync-and-score-channels": {
        "task": "decisions.tasks.sync_and_score",
        "every": SCORE_CHANNELS_EVERY,
        "expires": SCORE_CHANNELS_EVERY,
    },
    "check-sources": {
        "task": "sources.tasks.check_sources",
        "every": CHECK_SOURCES_EVERY,
        "expires": CHECK_SOURCES_EVERY,
    },
    "refresh-graph": {
        "task": "sources.tasks.refresh_graph",
        "every": REFRESH_GRAPH_EVERY,
        "expires": REFRESH_GRAPH_EVERY,
    },
    "prune-health-checks": {
        "task": "sources.tasks.prune_health_checks",
        "every": PRUNE_HEALTH_CHECKS_EVERY,
        "expires": PRUNE_HEALTH_CHECKS_EVERY,
    },
    "prune-graph-snapshots": {
        "task": "sources.tasks.prune_graph_snapshots",
        "every": PRUNE_GRAPH_SNAPSHOTS_EVERY,
        "expires": PRUNE_GRAPH_SNAPSHOTS_EVERY,
    },
    "prune-access-log": {
        "task": "auth_vault.tasks.prune_access_log",
        "every": PRUNE_ACCESS_LOG_EVERY,
        "expires": PRUNE_ACCESS_LOG_EVERY,
    },
}


# The vault's keyring as text (auth_vault.keyring parses it; the first key encrypts, all decrypt). Required in
# prod; in dev without it, auth_vault generates a key into DAZNODE_VAULT_DEV_KEY_FILE (with a system check warning)
# so that a bare machine can store secrets.
DAZNODE_VAULT_KEYS = env_secret("DAZNODE_VAULT_KEYS")
if IS_PROD and DAZNODE_VAULT_KEYS is None:
    raise ImproperlyConfigured(
        "DAZNODE_VAULT_KEYS (or DAZNODE_VAULT_KEYS_FILE) is required when DAZNODE_ENV=prod; "
        "make one with: python manage.py generate_vault_key"
    )
DAZNODE_VAULT_KEYS_GENERATED = DAZNODE_VAULT_KEYS is None
DAZNODE_VAULT_DEV_KEY_FILE = DATA_DIR / "vault_keys"

# REST API: JWT for clients, the admin session for a logged-in operator; nothing anonymous by default.
# No request needs more: the largest is a TLS certificate or macaroon imported into the vault (a few KB).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Daznode's own bodies nest 3 levels at most; Python's json module recurses once per level. The same bound
# as for what sources send (daznode.bounded_json).
DAZNODE_JSON_MAX_DEPTH = JSON_MAX_DEPTH
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "auth_vault.api_keys.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["daznode.roles.HasRole"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded in size and nesting: an anonymous request must not be able to exhaust memory or the stack.
    "DEFAULT_PARSER_CLASSES": [
        "daznode.parsers.BoundedJSONParser",
        "daznode.parsers.BoundedFormParser",
        "daznode.parsers.BoundedMultiPartParser",
    ],
    "EXCEPTION_HANDLER": "daznode.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": env_duration("DAZNODE_JWT_ACCESS_LIFETIME", timedelta(minutes=5)),
    "REFRESH_TOKEN_LIFETIME": env_duration("DAZNODE_JWT_REFRESH_LIFETIME", timedelta(days=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}

# Rate limits (django-ratelimit), counted in the default cache.
DAZNODE_RATE_LOGIN = env_rate("DAZNODE_RATE_LOGIN", "5/m")
DAZNODE_RATE_READ = env_rate("DAZNODE_RATE_READ", "300/m")
DAZNODE_RATE_WRITE = env_rate("DAZNODE_RATE_WRITE", "60/m")
# Password checks (about a second of CPU each) at once per web process; a login beyond it gets 503 + Retry-After.
DAZNODE_LOGIN_CONCURRENCY = env_int("DAZNODE_LOGIN_CONCURRENCY", 1, minimum=1)
RATELIMIT_ENABLE = env_bool("DAZNODE_RATELIMIT_ENABLE", True)
# Behind a reverse proxy, limit by the client's address rather than the proxy's.
RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP" if env_bool("DAZNODE_TRUST_X_REAL_IP", False) else "REMOTE_ADDR"


def _networks(name: str, values: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(value) for value in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must list networks such as 10.21.0.0/16 or 127.0.0.1: {exc}") from None


# Umbrel's home-screen widgets (/umbrel-ui/api/widgets/<name>) answer anonymous requests from these networks only,
# matched against REMOTE_ADDR (never a forwarded header); everyone else needs a signed-in viewer. Empty: nobody.
DAZNODE_WIDGETS_ALLOW_FROM = _networks("DAZNODE_WIDGETS_ALLOW_FROM", env_list("DAZNODE_WIDGETS_ALLOW_FROM", []))

SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit lists only django-redis; Django's own RedisCache increments atomically too.
    "django_ratelimit.W001",
]
if not REDIS_URL:
    # The embedded file cache is shared by all processes but increments without a lock: under concurrent
    # bursts a limit may let a few extra requests through. Acceptable for one operator; use Redis otherwise.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Sources: every client's timeout, client-side rate limit and circuit breaker.
DAZNODE_SOURCE_TIMEOUT = env_duration("DAZNODE_SOURCE_TIMEOUT", timedelta(seconds=30))
DAZNODE_SOURCE_RATE_PER_MINUTE = env_int("DAZNODE_SOURCE_RATE_PER_MINUTE", 100, minimum=1)
DAZNODE_SOURCE_BREAKER_THRESHOLD = env_int("DAZNODE_SOURCE_BREAKER_THRESHOLD", 5, minimum=1)
DAZNODE_SOURCE_BREAKER_COOLDOWN = env_duration("DAZNODE_SOURCE_BREAKER_COOLDOWN", timedelta(seconds=30))


# Scoring: the weight of each heuristic (name=weight, comma-separated, summing to 1; channels.conf checks them)
# and the activity window. Empty weights mean the defaults.
DAZNODE_SCORE_WEIGHTS = env_pairs("DAZNODE_SCORE_WEIGHTS")
DAZNODE_SCORE_ACTIVITY_DAYS = env_int("DAZNODE_SCORE_ACTIVITY_DAYS", 7, minimum=1, maximum=365)

# Decisions: what the fee cycle may do (shadow records, dry_run also validates and shows the diff, live
# applies), which band thresholds it uses, and the safety limits every change passes (decisions.validator).
DAZNODE_DECISION_MODE = env_choice("DAZNODE_DECISION_MODE", "dry_run", ("shadow", "dry_run", "live"))
DAZNODE_DRY_RUN = DAZNODE_DECISION_MODE != "live"


DAZNODE_DECISION_PROFILE = env_str("DAZNODE_DECISION_PROFILE", "balanced")  # decisions.conf checks the name
DAZNODE_DECISION_THRESHOLDS = env_pairs("DAZNODE_DECISION_THRESHOLDS")


def _chan_ids(name: str) -> frozenset[int]:
    values = env_list(name, [])
    try:
        return frozenset(parse_chan_id(value) for value in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must list channel ids: {exc}") from None


def _pubkeys(name: str) -> frozenset[str]:
    values = env_list(name, [])
    try:
        return frozenset(parse_pubkey(value) for value in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must list node public keys: {exc}") from None


# The safety limits as raw values, keyed by decisions.validator.Limits' fields; decisions.conf builds the Limits
# and refuses inconsistent ones (a minimum above its maximum) at start-up.
DAZNODE_DECISION_LIMITS = {
    "min_fee_rate_ppm": env_int("DAZNODE_FEE_MIN_PPM", DEFAULT_MIN_FEE_RATE_PPM, minimum=0),
    "max_fee_rate_ppm": env_int("DAZNODE_FEE_MAX_PPM", DEFAULT_MAX_FEE_RATE_PPM, minimum=0),
    "min_base_fee_msat": env_int("DAZNODE_BASE_FEE_MIN_MSAT", DEFAULT_MIN_BASE_FEE_MSAT, minimum=0),
    "max_base_fee_msat": env_int("DAZNODE_BASE_FEE_MAX_MSAT", DEFAULT_MAX_BASE_FEE_MSAT, minimum=0),
    "max_step_pct": env_int("DAZNODE_FEE_MAX_STEP_PERCENT", round(DEFAULT_MAX_STEP_PCT * 100), minimum=1, maximum=1000)
    / 100,
    "max_step_ppm": env_int("DAZNODE_FEE_MAX_STEP_PPM", DEFAULT_MAX_STEP_PPM, minimum=1),
    "max_base_step_msat": env_int("DAZNODE_BASE_FEE_MAX_STEP_MSAT", DEFAULT_MAX_BASE_STEP_MSAT, minimum=0),
    "min_change_ppm": env_int("DAZNODE_FEE_MIN_CHANGE_PPM", DEFAULT_MIN_CHANGE_PPM, minimum=0),
    "allow_zero_fee": env_bool("DAZNODE_ALLOW_ZERO_FEE", DEFAULT_ALLOW_ZERO_FEE),
    "min_time_lock_delta": env_int(
        "DAZNODE_TIME_LOCK_DELTA_MIN", LND_MIN_TIME_LOCK_DELTA, minimum=LND_MIN_TIME_LOCK_DELTA
    ),
    "max_time_lock_delta": env_int(
        "DAZNODE_TIME_LOCK_DELTA_MAX", DEFAULT_MAX_TIME_LOCK_DELTA, minimum=LND_MIN_TIME_LOCK_DELTA, maximum=UINT16_MAX
    ),
    "cooldown": env_duration("DAZNODE_FEE_COOLDOWN", DEFAULT_FEE_COOLDOWN),
    "daily_budget": env_int("DAZNODE_DAILY_CHANGE_BUDGET", DEFAULT_DAILY_CHANGE_BUDGET, minimum=0),
    "allow_channels": _chan_ids("DAZNODE_ALLOW_CHANNELS"),
    "deny_channels": _chan_ids("DAZNODE_DENY_CHANNELS"),
    "allow_peers": _pubkeys("DAZNODE_ALLOW_PEERS"),
    "deny_peers": _pubkeys("DAZNODE_DENY_PEERS"),
}
DAZNODE_APPLY_ALL_OR_NOTHING = env_bool("DAZNODE_APPLY_ALL_OR_NOTHING", False)
DAZNODE_KILL_SWITCH = env_bool("DAZNODE_KILL_SWITCH", False)

# Domain settings.
DAZNODE_GRAPH_TTL = env_duration("DAZNODE_GRAPH_TTL", timedelta(hours=12))
DAZNODE_GRAPH_SNAPSHOTS_KEEP = env_int("DAZNODE_GRAPH_SNAPSHOTS_KEEP", 5, minimum=1)
# Longer than the widest availability window the health API reports (7 days).
DAZNODE_HEALTH_CHECK_RETENTION = env_duration("DAZNODE_HEALTH_CHECK_RETENTION", timedelta(days=8))
# The vault's access log: events (a person's reads, rotations, logins, failures) and hourly counts (scheduled
# reads, rate-limit refusals). The last day is always kept.
DAZNODE_ACCESS_LOG_RETENTION = env_duration("DAZNODE_ACCESS_LOG_RETENTION", timedelta(days=365))
DAZNODE_ACCESS_COUNT_RETENTION = env_duration("DAZNODE_ACCESS_COUNT_RETENTION", timedelta(days=30))

DAZNODE_ADMIN_USER = env_str("DAZNODE_ADMIN_USER", "admin")
DAZNODE_ADMIN_PASSWORD = env_secret("DAZNODE_ADMIN_PASSWORD")

# Docker: the LND node the container imports into the vault as the source `lnd` at each start (manage.py
# lnd_import): its REST address and the paths of its macaroon and certificate, mounted read-only.
DAZNODE_LND_URL = env_url("DAZNODE_LND_URL", schemes=("https", "http"))
DAZNODE_LND_MACAROON_FILE = env_str("DAZNODE_LND_MACAROON_FILE")
DAZNODE_LND_TLS_CERT_FILE = env_str("DAZNODE_LND_TLS_CERT_FILE")
