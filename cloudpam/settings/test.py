"""Settings for the test suite: fast hashing, in-process Celery, no stray state."""

import os

from .base import *
from .base import CACHES, SECRET_KEY, VAR_DIR, _organization_creators

SECRET_KEY = SECRET_KEY or "test-only-secret-key-not-for-production-use-0123456789"
DEBUG = False
# Argon2 stays first in base; tests need the speed of a cheap hasher for fixtures.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Likewise for API token hashes: still Argon2id, at the smallest cost it accepts.
CLOUDPAM_TOKEN_HASH_PARAMS = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Keeps parallel runs (xdist workers, or a second checkout) apart in a shared Redis.
CACHES["default"]["KEY_PREFIX"] = f"cloudpam-test-{os.getpid()}"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
VAR_DIR.mkdir(parents=True, exist_ok=True)
# Anyone signed in may create an organization (production: staff only).
CLOUDPAM_ORGANIZATION_CREATORS = _organization_creators("anyone")
# Credentials in tests are encrypted with a key derived from SECRET_KEY unless a test sets
# CLOUDPAM_ENCRYPTION_KEYS (apps/cloud/crypto.py).
CLOUDPAM_DEV_ENCRYPTION_KEY = True
