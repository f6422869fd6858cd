"""Samplewise settings: one file, read from the environment.

Every value has a default that lets a fresh checkout run; production mode
(``DEBUG`` off) refuses the development secret key and turns on the secure
cookie and HTTPS settings that ``manage.py check --deploy`` expects.
"""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from backend.embedded import embedded_database, filesystem_broker_options
from backend.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SAMPLEWISE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEVELOPMENT_SECRET_KEY = "samplewise-development-key-not-for-production"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set to a private value when DEBUG is off")
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

SAMPLEWISE_DATA_DIR = Path(env_str("SAMPLEWISE_DATA_DIR", str(VAR_DIR / "data"))).resolve()

# Run execution: queue names get this prefix (separate deployments sharing a broker);
# a running run whose heartbeat is older than the timeout is requeued by the
# reaper, at most SAMPLEWISE_MAX_ATTEMPTS times.
SAMPLEWISE_QUEUE_PREFIX = env_str("SAMPLEWISE_QUEUE_PREFIX", "")
SAMPLEWISE_HEARTBEAT_SECONDS = env_int("SAMPLEWISE_HEARTBEAT_SECONDS", 5, minimum=1)
SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS = env_int("SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS", 60, minimum=2)
SAMPLEWISE_MAX_ATTEMPTS = env_int("SAMPLEWISE_MAX_ATTEMPTS", 3, minimum=1)
SAMPLEWISE_REAP_INTERVAL_SECONDS = env_int("SAMPLEWISE_REAP_INTERVAL_SECONDS", 30, minimum=1)
if SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS <= 2 * SAMPLEWISE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS must exceed twice SAMPLEWISE_HEARTBEAT_SECONDS")
# A queued execution no worker claimed this long after its message was sent is
# sent again (its message may have been lost with a broker restart).
SAMPLEWISE_CLAIM_TIMEOUT_SECONDS = env_int("SAMPLEWISE_CLAIM_TIMEOUT_SECONDS", 300, minimum=1)
# How long a worker retries a database, broker or dataset-fetch fault before it
# gives the execution back to the queue (it resumes from its last checkpoint).
SAMPLEWISE_TRANSIENT_RETRY_SECONDS = env_int("SAMPLEWISE_TRANSIENT_RETRY_SECONDS", 120, minimum=1)
# Checkpoints are removed once an execution succeeds unless this is set.
SAMPLEWISE_KEEP_CHECKPOINTS = env_bool("SAMPLEWISE_KEEP_CHECKPOINTS", False)

# A worker on another machine fetches datasets it lacks from the web app.
SAMPLEWISE_API_URL = env_url("SAMPLEWISE_API_URL", None, schemes={"http", "https"})
SAMPLEWISE_WORKER_TOKEN = env_str("SAMPLEWISE_WORKER_TOKEN", "")
if SAMPLEWISE_API_URL and not SAMPLEWISE_WORKER_TOKEN:
    raise ImproperlyConfigured("SAMPLEWISE_WORKER_TOKEN must be set when SAMPLEWISE_API_URL is set")
SAMPLEWISE_RUN_TIME_LIMIT_SECONDS = env_int("SAMPLEWISE_RUN_TIME_LIMIT_SECONDS", 7 * 24 * 3600, minimum=60)

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
SAMPLEWISE_DEVICE = env_str("SAMPLEWISE_DEVICE", "auto")
if not _DEVICE_PATTERN.match(SAMPLEWISE_DEVICE):
    raise ImproperlyConfigured(f"SAMPLEWISE_DEVICE must be auto, cpu, cuda or cuda:N, got {SAMPLEWISE_DEVICE!r}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backend.teams",
    "backend.datasets",
    "backend.policies",
    "backend.experiments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# Database: any Postgres URL, or the embedded server under var/.
_database_url = env_url("DATABASE_URL", None, schemes={"postgres", "postgresql", "pgsql"})
if _database_url:
    try:
        _database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL could not be parsed: {error}") from None
    if not _database.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL must name a database (postgres://host/NAME)")
    _database["ENGINE"] = "django.db.backends.postgresql"
else:
    _database = embedded_database(VAR_DIR)
# A process that hangs inside a transaction (a machine paused or cut off) would hold
# its row locks for as long as its connection lives, keeping the reaper away from
# the execution it holds; the server ends such a session once it has been idle in
# its transaction as long as a heartbeat may be missing.
_database.setdefault("OPTIONS", {})["options"] = (
    f"-c idle_in_transaction_session_timeout={SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS * 1000}"
)
DATABASES = {"default": _database}
EMBEDDED_DATABASE = not _database_url

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
if DEBUG:
    # WhiteNoise serves from the finders in development but expects the folder to exist.
    STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
SAMPLEWISE_MAX_UPLOAD_BYTES = env_int("SAMPLEWISE_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024, minimum=1024)

# Production hardening; each can be relaxed from the environment (e.g. behind a
# TLS-terminating proxy that already redirects).
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.api_errors.exception_handler",
    # "format" is a dataset filter, not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Samplewise API",
    "DESCRIPTION": "Benchmark data sampling policies under data budgets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from this site, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "backend.experiments.models.RunStatus",
        "DatasetStatusEnum": "backend.datasets.models.DatasetStatus",
        "InvitationStatusEnum": "backend.teams.models.InvitationStatus",
    },
}

# Celery: a real broker when CELERY_BROKER_URL is set, else the filesystem
# transport under var/ (no server needed).
_broker_url = env_url("CELERY_BROKER_URL", None, schemes={"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem"})
if _broker_url is None or _broker_url.startswith("filesystem"):
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
    _default_result_backend = f"file://{VAR_DIR / 'celery-results'}"
    (VAR_DIR / "celery-results").mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_URL = _broker_url
    # Redis hands an unacknowledged message to another worker after the visibility
    # timeout (an hour by default), which would start a second copy of every run
    # longer than that; a lost worker's run is requeued by the reaper instead.
    CELERY_BROKER_TRANSPORT_OPTIONS = (
        {"visibility_timeout": SAMPLEWISE_RUN_TIME_LIMIT_SECONDS + 3600} if _broker_url.startswith("redis") else {}
    )
    _default_result_backend = _broker_url if _broker_url.startswith("redis") else "rpc://"
CELERY_RESULT_BACKEND = env_url(
    "CELERY_RESULT_BACKEND", _default_result_backend, schemes={"redis", "rediss", "rpc", "file"}
)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = f"{SAMPLEWISE_QUEUE_PREFIX}cpu"
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {"task": "workers.reap_stale_runs", "schedule": float(SAMPLEWISE_REAP_INTERVAL_SECONDS)},
}
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
