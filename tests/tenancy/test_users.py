import pytest
from django.contrib.auth import authenticate, get_user_model

pytestmark = pytest.mark.django_db


def test_custom_user_model_uses_email_as_login():
    user_model = get_user_model()
    assert user_model._meta.label == "tenancy.User"
    user = user_model.objects.create_user("Jane@Example.COM", "s3cret-pass-word")
    assert user.email == "jane@example.com"
    assert authenticate(username="JANE@example.com", password="s3cret-pass-word") == user


def test_email_is_required():
    with pytest.raises(ValueError, match="email address is required"):
        get_user_model().objects.create_user("", "x")


def test_me_answers_the_caller(owner_client):
    response = owner_client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == owner_client.user.email
    assert body["organization"]["slug"] == "acme"
    assert body["role"] == "owner"
    assert "pools.change" in body["permissions"]
    assert body["auth_method"] == "session"
