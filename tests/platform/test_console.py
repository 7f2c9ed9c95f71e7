import pytest

pytestmark = pytest.mark.django_db


def test_login_page_renders_with_csrf(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    assert b"Sign in to CloudPAM" in response.content


def test_dashboard_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_and_logout(client, user):
    response = client.post(
        "/login/", {"username": user.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert b"Acme Networks" in page.content
    assert b"htmx.min.js" in page.content
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_a_form_error(client, user):
    response = client.post("/login/", {"username": user.email, "password": "nope"})
    assert response.status_code == 200
    assert b"form-errors" in response.content


def test_switching_organization(client, user, other_organization):
    from apps.tenancy.models import Membership

    Membership.objects.create(user=user, organization=other_organization, role="viewer")
    client.force_login(user)
    client.post("/organizations/switch/", {"organization": "globex"})
    assert b"<h1>Globex</h1>" in client.get("/").content
    # Not a member: refused, active organization unchanged.
    response = client.post("/organizations/switch/", {"organization": "nope"}, follow=True)
    assert b"not a member" in response.content


def test_static_assets_are_served_locally(client):
    assert client.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/static/css/cloudpam.css").status_code == 200


def test_admin_is_branded(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert b"CloudPAM administration" in response.content
