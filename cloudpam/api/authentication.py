"""Session authentication for the API that names itself in 401 answers."""

from rest_framework import authentication


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (with CSRF), unchanged but for the 401 header."""

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'
