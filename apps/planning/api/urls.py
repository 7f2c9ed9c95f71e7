"""Planning API routes, mounted under /api/v1/ in the "api" namespace."""

from apps.planning.api.plan_urls import urlpatterns as plan_urlpatterns
from apps.planning.api.template_urls import urlpatterns as template_urlpatterns

# The template routes come first: "plans/templates/" is not a plan.
urlpatterns = [*template_urlpatterns, *plan_urlpatterns]
