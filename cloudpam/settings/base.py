"""
Settings shared by every environment.

Every environment variable CloudPAM reads is read here, once; the other
settings modules only change defaults. The README lists them all.
"""

import os
import secrets
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CLOUDPAM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()


def _secret_key_from_var_dir() -> str:
    """Return the secret key kept in ``var/``, generating it on first use.

    Only development settings call this: production settings refuse to start
    without an explicit ``SECRET_KEY``.
    """
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
# Previous keys, still accepted for signatures, so rotating SECRET_KEY keeps sessions.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
REDIS_URL = env.str("REDIS_URL", default="")
# Fernet keys for cloud credentials, newest first (apps/cloud/crypto.py). Without one,
# only settings with CLOUDPAM_DEV_ENCRYPTION_KEY (local, test) derive a key from SECRET_KEY;
# production refuses to store credentials.
CLOUDPAM_ENCRYPTION_KEYS = env.list("CLOUDPAM_ENCRYPTION_KEYS", default=[])
CLOUDPAM_DEV_ENCRYPTION_KEY = False
# Emulator endpoints standing in for the clouds (SPEC.md section 4); empty: the real cloud.
CLOUDPAM_AWS_ENDPOINT_URL = env.str("CLOUDPAM_AWS_ENDPOINT_URL", default="")
CLOUDPAM_GCP_ENDPOINT_URL = env.str("CLOUDPAM_GCP_ENDPOINT_URL", default="")
CLOUDPAM_AZURE_ENDPOINT_URL = env.str("CLOUDPAM_AZURE_ENDPOINT_URL", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Proxies (addresses or networks) whose X-Forwarded-For header is believed.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
CELERY_METRICS_ADDR = env.str("CELERY_METRICS_ADDR", default="0.0.0.0")  # noqa: S104
# Processes a whole-organization analysis spreads its parts over (PostgreSQL only; 1 keeps
# it in the worker's own process). By default one per CPU, at most four.
CLOUDPAM_ANALYSIS_PROCESSES = env.int(
    "CLOUDPAM_ANALYSIS_PROCESSES", default=min(os.cpu_count() or 1, 4)
)
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="cloudpam")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

# AI planning (section 7.3). Read here so every provider sees one configuration.
LLM_PROVIDER = env.str("LLM_PROVIDER", default="")
LLM_MODEL = env.str("LLM_MODEL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_VERSION = env.str("LLM_API_VERSION", default="")  # Azure OpenAI
LLM_TIMEOUT_SECONDS = env.int("LLM_TIMEOUT_SECONDS", default=60)
# Prices per million tokens of the instance default, for the cost figures.
LLM_INPUT_PRICE = env.str("LLM_INPUT_PRICE", default="0")
LLM_CACHED_INPUT_PRICE = env.str("LLM_CACHED_INPUT_PRICE", default="")
LLM_OUTPUT_PRICE = env.str("LLM_OUTPUT_PRICE", default="0")

# Defaults for SSO; per-organization identity providers live in the database.
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_VERIFY_SSL = env.bool("OIDC_VERIFY_SSL", default=True)

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "treebeard",
    "guardian",
    "auditlog",
    "django_celery_beat",
    "django_htmx",
    "csp",
    # MFA: TOTP authenticators and recovery codes (before tenancy, whose admin replaces theirs).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "cloudpam",
    "apps.tenancy",
    "apps.pools",
    "apps.cloud",
    "apps.discovery",
    "apps.analysis",
    "apps.planning",
    "apps.audit",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "cloudpam.middleware.RequestIdMiddleware",
    "cloudpam.api.middleware.ApiJsonMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.tenancy.sessions.middleware.UserSessionMiddleware",
    "apps.tenancy.mfa.middleware.MfaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.tenancy.middleware.ActiveOrganizationMiddleware",
    "apps.tenancy.middleware.RateLimitHeadersMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
    "cloudpam.middleware.AccessLogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "cloudpam.urls"
WSGI_APPLICATION = "cloudpam.wsgi.application"
ASGI_APPLICATION = "cloudpam.asgi.application"

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
                "csp.context_processors.nonce",
                "apps.tenancy.context_processors.organization",
                "cloudpam.navigation.nav_items",
            ],
        },
    },
]

# django-prometheus wraps the database backend to count queries; the wrapped
# engine is chosen from whatever DATABASE_URL names.
_PROMETHEUS_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    # Query metrics, and the lazy row-level-security settings of apps.tenancy.rls.
    "django.db.backends.postgresql": "cloudpam.db.postgresql",
}
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cloudpam.sqlite3'}"),
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
# Seconds a connection is kept between requests (0 closes it after each). Production keeps
# them (settings/production.py) unless DATABASE_CONN_MAX_AGE or the URL says otherwise.
_CONN_MAX_AGE = env.str("DATABASE_CONN_MAX_AGE", default="").strip()
DATABASE_CONN_MAX_AGE_SET = "CONN_MAX_AGE" in DATABASES["default"] or bool(_CONN_MAX_AGE)
DATABASES["default"].setdefault("CONN_MAX_AGE", int(_CONN_MAX_AGE) if _CONN_MAX_AGE else 0)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# WAL and a busy timeout let the dev server and a worker share the file. A
# transaction that reads and then writes cannot wait for a lock it must upgrade
# (SQLite answers "database is locked" at once), so every transaction takes the
# write lock when it begins and waits up to the timeout for it instead.
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if "sqlite" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cloudpam",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Per-organization OpenID Connect (mozilla-django-oidc); loads the sessions it signs in.
    "apps.tenancy.sso.backends.SSOBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Guardian's anonymous user would be a row without an organization.
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-less meta tag instead
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): scripts and styles from our own origin, or
# inline only with the response's nonce (the Swagger UI page's boot script and
# styles). Console behaviour lives in static/js, never in inline handlers.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Swagger UI and the admin draw some icons from data: URLs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Who may read /api/schema/ and /api/docs/: "public", "authenticated" (anyone
# signed in or holding a token) or "off". Production defaults to authenticated.
CLOUDPAM_API_DOCS = env.str("CLOUDPAM_API_DOCS", default="public")

# Huge JSON bodies are refused before parsing (answered as a 400).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenancy.authentication.BearerTokenAuthentication",
        "cloudpam.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.tenancy.permissions.HasOrganizationPermission"],
    # Limits come from the organization (settings, quotas) and the token, not from here.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.tenancy.throttling.PrincipalRateThrottle",
        "apps.tenancy.throttling.OrganizationRateThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "cloudpam.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "cloudpam.api.filters.StableOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cloudpam.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cloudpam.api.exceptions.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Rate limits (API throttles and sign-in attempts) count in the default cache:
# Redis when REDIS_URL is set, shared by every process; per process otherwise.
RATELIMIT_USE_CACHE = "default"
# A counter that expired between its creation and its increment is not a reason to refuse.
RATELIMIT_FAIL_OPEN = True
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/m")

# MFA (apps/tenancy/mfa): the issuer name authenticator apps show, how long a second factor
# counts for sensitive actions, how long the code step of a sign-in waits, and which
# authentication backends are local passwords (others, single sign-on, rely on the IdP).
OTP_TOTP_ISSUER = env.str("CLOUDPAM_MFA_ISSUER", default="CloudPAM")
CLOUDPAM_MFA_REVERIFY_HOURS = env.int("CLOUDPAM_MFA_REVERIFY_HOURS", default=12)
CLOUDPAM_MFA_PENDING_SECONDS = 300
CLOUDPAM_MFA_LOCAL_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

# Who may create organizations, in the API and the console: "staff" (users with is_staff)
# or "anyone" signed in. Any user who creates one becomes its owner, so an instance open
# to sign-ups keeps the default; local and test settings open it to anyone.
ORGANIZATION_CREATORS = ("anyone", "staff")


def _organization_creators(default: str) -> str:
    value = env.str("CLOUDPAM_ORGANIZATION_CREATORS", default=default)
    if value not in ORGANIZATION_CREATORS:
        raise ImproperlyConfigured(
            f"CLOUDPAM_ORGANIZATION_CREATORS must be one of {', '.join(ORGANIZATION_CREATORS)}, "
            f"not '{value}'."
        )
    return value


CLOUDPAM_ORGANIZATION_CREATORS = _organization_creators("staff")

# Argon2id costs of API token hashes (argon2-cffi's RFC 9106 low-memory profile by default).
CLOUDPAM_TOKEN_HASH_PARAMS: dict[str, int] = {}

# Invitations to new members. The console backend prints mail in development;
# production sends with SMTP when EMAIL_HOST is set and refuses to send otherwise.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CloudPAM <cloudpam@localhost>")

SPECTACULAR_SETTINGS = {
    "TITLE": "CloudPAM API",
    "DESCRIPTION": "IP address management for multi-cloud networks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["cloudpam.api.permissions.ApiDocsPermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Enums of the same field name in several apps ("status", "type") get explicit names.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.tenancy.choices.Role",
        "PoolStatusEnum": "apps.pools.choices.PoolStatus",
        "PoolTypeEnum": "apps.pools.choices.PoolType",
        "PoolSourceEnum": "apps.pools.choices.PoolSource",
        "TokenStatusEnum": [("active", "active"), ("revoked", "revoked"), ("expired", "expired")],
        "AuditActorTypeEnum": "apps.audit.choices.ActorType",
        "AuditActionEnum": "apps.audit.choices.AuditAction",
        "AnalysisRunStatusEnum": "apps.analysis.choices.RunStatus",
        "RunwayStatusEnum": "apps.analysis.choices.RunwayStatus",
        "RecommendationTypeEnum": "apps.analysis.choices.RecommendationType",
        "RecommendationStatusEnum": "apps.analysis.choices.RecommendationStatus",
        "AgentStatusEnum": "apps.discovery.choices.AgentStatus",
        "CloudProviderEnum": "apps.cloud.choices.Provider",
        "CloudAuthMethodEnum": "apps.cloud.choices.AuthMethod",
        "CloudAccountStatusEnum": "apps.cloud.choices.AccountStatus",
        "CloudAccountStatusChangeEnum": [("disabled", "disabled"), ("pending", "pending")],
        "PlanStatusEnum": "apps.planning.choices.PlanStatus",
        "LLMProviderKindEnum": "apps.planning.choices.LLMProviderKind",
        "PlanSourceEnum": "apps.planning.choices.PlanSource",
        "PlanRiskLevelEnum": "apps.planning.choices.RiskLevel",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cloudpam.api.schema.add_error_responses",
    ],
}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Without Redis, tasks run in-process so `make run` needs no broker.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "cloudpam.logging.ContextFilter"},
        "redact": {"()": "cloudpam.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {
            "()": "cloudpam.logging.JsonFormatter",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["context", "redact"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # Access lines come from cloudpam.request; Django's own would repeat them.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": False},
        "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
        "cloudpam": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "apps": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # Audit events are shipped to a SIEM from these lines: never muted by LOG_LEVEL.
        "cloudpam.audit": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}

# Audit trail (django-auditlog): JSON changes, IP and request id per entry, stored in
# the audit app's own table (organization, actor, hash chain).
AUDITLOG_LOGENTRY_MODEL = "audit.AuditEvent"
# django-auditlog's own table would stay empty, and its foreign keys would keep
# PostgreSQL from truncating the tables it points to (test database flushes).
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_CID_HEADER = "X-Request-ID"
AUDITLOG_CID_GETTER = "cloudpam.context.get_request_id"

ADMIN_SITE_HEADER = "CloudPAM administration"
