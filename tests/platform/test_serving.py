"""The application as gunicorn serves it in production: DEBUG off, static files collected.

Without ``collectstatic`` a manifest storage answers 500 on every page; the
deployment must refuse to start instead, naming the step that is missing.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.platform.serving import (
    ROOT,
    free_port,
    get,
    gunicorn,
    gunicorn_command,
    manage,
    production_env,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A migrated production database, static files not collected yet."""
    env = production_env(tmp_path_factory.mktemp("deployment"))
    manage(env, "migrate", "--noinput", "-v0")
    return env


def test_without_collectstatic_check_fails_naming_it(deployment):
    result = manage(deployment, "check", "--deploy", check=False)
    assert result.returncode != 0
    assert "cloudpam.E001" in result.stderr
    assert "collectstatic" in result.stderr


def test_without_collectstatic_gunicorn_refuses_to_start(deployment):
    process = subprocess.run(
        gunicorn_command(free_port()),
        cwd=ROOT,
        env=deployment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode != 0
    assert "cloudpam.E001" in process.stderr
    assert "collectstatic" in process.stderr


def test_after_collectstatic_gunicorn_serves_pages_with_debug_off(deployment):
    manage(deployment, "collectstatic", "--noinput", "-v0")
    assert "cloudpam.E001" not in manage(deployment, "check", "--deploy").stderr
    with gunicorn(deployment) as url:
        status, headers, body = get(f"{url}/login/")
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/html")
        stylesheet = re.search(r'href="(/static/css/cloudpam\.[0-9a-f]{12}\.css)"', body)
        assert stylesheet, "the page names the hashed file of the manifest"
        assert get(f"{url}{stylesheet.group(1)}")[0] == 200

        assert get(f"{url}/admin/login/")[0] == 200
        status, _headers, body = get(f"{url}/no-such-page/")
        assert status == 404
        assert "Traceback" not in body
        status, headers, _body = get(f"{url}/api/v1/no-such-thing")
        assert (status, headers["Content-Type"]) == (404, "application/json")
