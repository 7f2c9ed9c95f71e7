"""Development settings: `make run`, SQLite in var/, a generated secret key."""

from .base import *
from .base import SECRET_KEY, _organization_creators, _secret_key_from_var_dir, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = SECRET_KEY or _secret_key_from_var_dir()
# Anyone signed in may create an organization (production: staff only).
CLOUDPAM_ORGANIZATION_CREATORS = _organization_creators("anyone")

# Served straight from static/ and the apps, so that `make run` needs no collectstatic
# even with DEBUG=false.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# No CLOUDPAM_ENCRYPTION_KEYS in development: credentials are encrypted with a key derived
# from SECRET_KEY (apps/cloud/crypto.py), so they survive as long as var/secret_key does.
CLOUDPAM_DEV_ENCRYPTION_KEY = True
