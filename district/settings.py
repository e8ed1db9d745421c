"""Settings, read from the environment.

``DATABASE_URL`` (else the embedded PostgreSQL), ``REDIS_URL`` (channel layer; in-memory
without it), ``SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from district.secret_key import check_secret_key, installation_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
# From the environment, else this installation's own random key, generated on first start
# (district/secret_key.py); a public or short key is refused on a public host without DEBUG.
SECRET_KEY = os.environ.get("SECRET_KEY") or installation_key(
    Path(os.environ.get("SECRET_KEY_FILE", BASE_DIR / ".data" / "secret_key"))
)
check_secret_key(SECRET_KEY, debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000").split(",") if o
]

# --- Tenancy (DESIGN.md §2): what lives in public vs. in each compound schema -------------
SHARED_APPS = [
    "django_tenants",
    "daphne",
    "district",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "channels",
    # Failed-login records live in public, beside the users they lock out (issue #3).
    "axes",
    # Also a tenant app (below): its tables exist in public too, so a permission check made
    # while the connection is on public finds an empty table instead of failing.
    "guardian",
    "demo",
    # City-wide facts (issue #9): access events (partitioned by month), alerts, the device
    # index and the watch-list; tagged with compound, street, district and city ids.
    "events",
    # Alert models' settings, the alert lifecycle, broadcasts and live push (issue #10).
    "alerts",
    # The city's mediator roster and per-compound mediation figures (issue #11).
    "mediators",
    # Incidents, the safety index and its roll-ups, dashboards and reports (issue #12).
    "safety",
    # Background jobs (issue #6): the job queue's tables live in public; a job working in a
    # compound carries the compound's schema name (district.jobs).
    "procrastinate.contrib.django",
]
TENANT_APPS = [
    # Keep this list short: every table here is multiplied by the number of compounds.
    # Tables here may reference public ones (auth_user): search_path is "<compound>, public".
    "registry",
    "access",
    "mediation",
    # Per-object grants live in the compound's schema: a grant on record #5 of compound A
    # can never apply to record #5 of compound B (DESIGN.md §2).
    "guardian",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Compound"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
# The reference compound schema, migrated by `migrate_all`; new compounds are provisioned by
# replaying the tenant DDL (tenants/provisioning.py; measured in bench/provision.py).
COMPOUND_TEMPLATE_SCHEMA = "compound_template"
# A tenant migration that cannot be replayed (RunPython) makes provisioning refuse, so the ~8x
# slower path of migrating each new compound never arrives unnoticed. True only as a stop-gap
# while such a migration is rewritten (tenants/provisioning.py says how).
COMPOUND_PROVISIONING_MIGRATE_FALLBACK = False
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Send "SET search_path" only when the schema changes (halves round trips per request; safe
# since django-tenants 4.0.1 forgets the cached path after a (savepoint) rollback).
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # High up, so every response (redirects, 404s from the compound middleware) carries the policy.
    "district.login_security.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication: the compound is chosen from the path and refused unless the
    # user's role scope covers it (DESIGN.md §3).
    "district.middleware.CompoundMiddleware",
    # Fail closed: a view or method without a permission declaration answers 403; pages that
    # need a sign-in send anonymous visitors to the login page.
    "district.middleware.DeclaredPermissionMiddleware",
    # Last: it turns the lockout flag the backend sets during authenticate() into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "district.urls"
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
                "django.template.context_processors.i18n",
                "tenants.context_processors.compound",
                "district.context_processors.permissions",
            ],
        },
    },
]
WSGI_APPLICATION = "district.wsgi.application"
ASGI_APPLICATION = "district.asgi.application"


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from district.embedded_db import database_url

    return database_url()


# Database connections (issue #7). Under ASGI, Django runs each request's sync code in a thread
# of its own (one asgiref executor per request) and a connection belongs to its thread, so a
# persistent connection (CONN_MAX_AGE > 0) is never reused: it outlives its thread until the
# garbage collector happens to free it, and 64 clients ran PostgreSQL out of connections
# (docs/benchmarks.md). As Django's docs say for ASGI: no persistent connections, a pool instead.
# psycopg 3's pool is shared by the process's threads; a request holds one connection from its
# first query to its end and then returns it. So one ASGI process never holds more than
# DATABASE_POOL_SIZE connections, whatever the load: keep (ASGI processes + job workers) × size
# well under PostgreSQL's max_connections (100 by default), which other clients share.
DATABASE_POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "8"))
DATABASES = {"default": dj_database_url.parse(_database_url(), conn_max_age=0, conn_health_checks=True)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {
        # An unreachable server fails a connection attempt in seconds, not after TCP's minutes.
        "connect_timeout": 5,
        "pool": {
            "min_size": 2,
            "max_size": DATABASE_POOL_SIZE,
            # A request waits this long for a free connection, then fails; /healthz waits less.
            "timeout": 10.0,
        },
    }
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # socket_timeout None: redis-py 8 reads with a 5 s timeout by default, and channels-redis waits on
    # BZPOPMIN for up to 5 s, so every idle WebSocket was closed with 1011 every ~5 s
    # (django/channels_redis#422; found by tests/alerts/test_multiprocess.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out client before any backend checks the password (issue #3).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No shared anonymous user row: anonymous users never hold object permissions here.
GUARDIAN_CREATE_ANONYMOUS_USER = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "media"
MEDIA_URL = "/media/"
# Serve STATICFILES_DIRS straight from the finders, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# Excel uploads of a few thousand rows are fine; reject anything absurd early.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Any request body, refused (413) by district.asgi before Django reads it: Django's ASGI handler
# otherwise spools the whole body to a temporary file before a view can say no. The largest
# legitimate body is an Excel upload (REGISTRY_IMPORT_MAX_UPLOAD_BYTES) plus its form.
REQUEST_BODY_MAX_BYTES = 11 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# A street office's roster (issue #8): 100,000 persons import in about a minute here (docs/benchmarks.md).
REGISTRY_IMPORT_MAX_ROWS = 100_000
# Import bombs (issue #7): what an uploaded workbook may weigh and hold. Checked at upload and
# again, streaming, by the job before it reads a row (registry/excel/limits.py says why
# each is what it is). Blank rows count: a sheet may hold its header, MAX_ROWS rows of data and
# MAX_BLANK_ROWS blank rows, anywhere; a sheet holding more is refused, not cut short.
REGISTRY_IMPORT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
REGISTRY_IMPORT_MAX_UNPACKED_BYTES = 250 * 1024 * 1024
REGISTRY_IMPORT_MAX_BLANK_ROWS = 1000
REGISTRY_IMPORT_MAX_COLUMNS = 64
REGISTRY_IMPORT_MAX_CELL_CHARS = 1000
# The uploaded file of a finished or failed import is deleted this long after it ended (a daily
# job, registry.tasks); the job's counts and error report stay.
REGISTRY_IMPORT_FILE_RETENTION = timedelta(days=7)

# --- Background jobs (DESIGN.md §1, §7): procrastinate on this PostgreSQL (district/jobs.py) ------
# Every app's tasks.py is found by procrastinate's autodiscovery; district.jobs holds the job
# helpers and the periodic task that requeues the jobs of workers that died.
PROCRASTINATE_IMPORT_PATHS = ["district.jobs"]
PROCRASTINATE_WORKER_DEFAULTS = {
    # On Ctrl-C or SIGTERM, running jobs get this long to finish; then long ones (imports) are
    # asked to stop at their next checkpoint and are requeued, so a restart resumes them.
    "shutdown_graceful_timeout": 5.0,
    # What a finished job did is kept by the app (e.g. ImportJob); failed jobs stay to be looked at.
    "delete_jobs": "successful",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    # Each viewset declares what each action needs (district.permissions); undeclared is refused.
    "DEFAULT_PERMISSION_CLASSES": ["district.api.permissions.DeclaredPermission"],
    # drf-spectacular's, with the error responses every operation shares (district.api.schema).
    "DEFAULT_SCHEMA_CLASS": "district.api.schema.AutoSchema",
    # limit 1–1000 and offset ≥ 0, else 400 (DRF's own guesses a default, or lets the database fail).
    "DEFAULT_PAGINATION_CLASS": "district.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # JSON bodies of at most 1 MB and 32 levels (DATA_UPLOAD_MAX_MEMORY_SIZE does not cover DRF's
    # streamed JSON); forms and uploads stay under Django's own limits.
    "DEFAULT_PARSER_CLASSES": [
        "district.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "智慧社区警务平台 API",
    "DESCRIPTION": _("Smart-community policing platform: admin-area tree and per-compound registry."),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the vendored copy under static/, never from a CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/favicon.svg",
    "COMPONENT_SPLIT_REQUEST": True,
    # The API's documented bodies are JSON. Form posts are still parsed (Django's test client and
    # scripts use them), but they are not the interface, and documenting them would triple the
    # request bodies the schema fuzzer (tests/api/test_schemathesis.py) has to try.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused request (4xx) is one line; only server errors keep their traceback.
    "filters": {"one_line_refusals": {"()": "district.log_filters.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["one_line_refusals"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Task registration at every start; the worker still logs each job it runs.
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
    },
}

# --- Login security and browser hardening (issue #3) ---
# django-axes: 5 wrong passwords for one username from one IP lock that pair out for 30 minutes.
# Keying on the pair (not the username alone) stops a stranger from locking an officer out from
# elsewhere; keying on the pair (not the IP alone) keeps one station's shared NAT address usable.
# Behind a reverse proxy set AXES_IPWARE_PROXY_COUNT, or every client shares the proxy's address.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A successful login clears the count, so a user's typos before it never add up to a lockout later.
AXES_RESET_ON_SUCCESS = True
# Each attempt during a lockout restarts the 30 minutes, so "try again in 30 minutes" stays true
# and guessing on through the lockout gains nothing.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# Renders AXES_LOCKOUT_TEMPLATE with the cool-off in minutes and the time it ends, which the
# stock response (an ISO 8601 duration) cannot show in the user's language.
AXES_LOCKOUT_CALLABLE = "district.login_security.lockout_response"

# Sessions last one work shift and end with the browser: terminals in stations are shared.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# JavaScript never needs the CSRF cookie: htmx (static/js/app.js) and Swagger UI take the token
# from the page, so the cookie is hidden from scripts an attacker might inject.
CSRF_COOKIE_HTTPONLY = True
# Off by default because `make run` serves plain http on 127.0.0.1; production sets HTTPS=1.
# Behind a TLS-terminating proxy run daphne with --proxy-headers, so request.is_secure() is true
# and SECURE_SSL_REDIRECT does not loop.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = HTTPS
# One year; subdomains are left out because other services of the bureau may still run on http.
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60 if HTTPS else 0
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# django-csp 4: nothing inline, nothing from other origins. Swagger UI's page adds the hash of
# its one inline <style> block, on that page only (district/login_security.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Door plates and QR codes are SVG/PNG from our own URLs; Bootstrap's icons are data: URIs.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Whole ID number and phone lookups by users who see them masked (issue #7, district/probes.py):
# at most LIMIT per user within WINDOW (a desk clerk answering callers makes a few an hour);
# MISSES lookups in the window that find nothing lock the lookups for LOCKOUT and notify the
# compound. A masked phone hides 10,000 numbers: at 10 misses per lockout that is weeks of work.
IDENTIFIER_PROBE_LIMIT = 20
IDENTIFIER_PROBE_WINDOW = timedelta(minutes=10)
IDENTIFIER_PROBE_MISSES = 10
IDENTIFIER_PROBE_LOCKOUT = timedelta(hours=1)

# --- Access control (issue #9, DESIGN.md §5) ------------------------------------------------
# A device is online while any authenticated delivery (heartbeat or event) arrived within this.
ACCESS_DEVICE_OFFLINE_AFTER = int(os.environ.get("ACCESS_DEVICE_OFFLINE_AFTER", 180))
# Delivery ids remembered for answering retries; devices give up retrying within a day.
ACCESS_DELIVERY_KEY_DAYS = 7
# Photos (enrolment and captures): decoded by Pillow only within these bounds. 12 megapixels is
# a phone camera's full frame; a 30-megapixel upload is refused before it is decoded.
ACCESS_IMAGE_MAX_BYTES = 8 * 1024 * 1024
ACCESS_IMAGE_MAX_PIXELS = 12_000_000
ACCESS_IMAGE_FORMATS = ("JPEG", "PNG")
# Faces are searched on an image no longer than this on its long side: HOG detection time grows
# with the pixels, and a gate's face is large in its frame.
ACCESS_DETECT_MAX_SIDE = 800
# Snapshots and enrolment photos live under MEDIA_ROOT and are served only by permission-checked
# views (never by a static /media/ route).
ACCESS_SNAPSHOT_DIR = "access"
# Most ID numbers one screening batch may hold.
ACCESS_SCREENING_MAX_IDS = 5000
