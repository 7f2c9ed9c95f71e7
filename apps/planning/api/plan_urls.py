"""Plan routes (SPEC.md 7.0), part of the planning API."""

from django.urls import path

from apps.planning.api.views import PlanViewSet

urlpatterns = [
    path("plans/", PlanViewSet.as_view({"get": "list", "post": "create"}), name="plan-list"),
    path("plans/compare/", PlanViewSet.as_view({"get": "compare"}), name="plan-compare"),
    path("plans/<int:pk>/", PlanViewSet.as_view({"get": "retrieve"}), name="plan-detail"),
    *(
        path(
            f"plans/<int:pk>/{action}/",
            PlanViewSet.as_view({"post": action}),
            name=f"plan-{action}",
        )
        for action in ("validate", "apply", "discard", "rollback")
    ),
    path("plans/<int:pk>/export/", PlanViewSet.as_view({"get": "export"}), name="plan-export"),
]
