"""Planning API routes, mounted under /api/v1/ in the "api" namespace."""

from apps.planning.api.io_urls import urlpatterns as io_urlpatterns
from apps.planning.api.llm_urls import urlpatterns as llm_urlpatterns
from apps.planning.api.plan_urls import urlpatterns as plan_urlpatterns
from apps.planning.api.template_urls import urlpatterns as template_urlpatterns

# The import and template routes come first: "plans/imports/" and "plans/templates/" are
# not plans.
urlpatterns = [*io_urlpatterns, *template_urlpatterns, *plan_urlpatterns, *llm_urlpatterns]
