from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
]
