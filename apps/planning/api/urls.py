"""Planning API routes, mounted under /api/v1/ in the "api" namespace."""

from apps.planning.api.io_urls import urlpatterns as io_urlpatterns
from apps.planning.api.plan_urls import urlpatterns as plan_urlpatterns

urlpatterns = [*io_urlpatterns, *plan_urlpatterns]
