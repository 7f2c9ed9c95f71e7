"""Production settings: no default secret, HTTPS on, refuse to start misconfigured."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import ALLOWED_HOSTS, DATABASE_CONN_MAX_AGE_SET, DATABASES, SECRET_KEY, env

if not SECRET_KEY or len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production."
    )
if not env.str("ALLOWED_HOSTS", default=""):
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names CloudPAM is served on.")
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must not contain '*' in production.")

DEBUG = False
CLOUDPAM_API_DOCS = env.str("CLOUDPAM_API_DOCS", default="authenticated")
# Never the console backend: it would print invitation links (password-setting
# tokens) into the log. SMTP when a host is given, else refuse to send (cloudpam.W001).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if env.str("EMAIL_HOST", default="")
    else "cloudpam.mail.UnconfiguredEmailBackend",
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The health checks answer plain HTTP from the load balancer and the kubelet.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^health$", r"^ready$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# Persistent database connections: opening one costs a TCP (and TLS) handshake, a
# PostgreSQL backend process and authentication, several times the work of the pool
# detail request itself. Kept 60 s, checked before each request's first statement
# (CONN_HEALTH_CHECKS), so a connection the server dropped is replaced, not an error.
# Row-level security settings follow the connection (apps/tenancy/rls.py); see
# deploy/RUNBOOK.md on connection counts and PgBouncer.
PRODUCTION_CONN_MAX_AGE = 60
if not DATABASE_CONN_MAX_AGE_SET:
    DATABASES["default"]["CONN_MAX_AGE"] = PRODUCTION_CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
