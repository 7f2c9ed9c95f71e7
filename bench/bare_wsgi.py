"""The ceiling for bench_hot_path.py: CloudPAM's settings and process setup, one bare view.

Same gunicorn configuration, settings module, database role and cache as the real
application, but a URLconf with a single Django view and no middleware, so the figure is
what Django under gunicorn can serve on this machine before CloudPAM does any work.
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.production")


def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bare/", bare)]

settings.ROOT_URLCONF = __name__
settings.MIDDLEWARE = []
application = get_wsgi_application()
