"""A fake OpenID Connect provider on loopback, for the sign-in paths a real one never takes.

It answers the calls of the authorization code flow (discovery, authorize,
token, JWKS, userinfo) like a provider does, and can be told to misbehave:
issue the ID token under another issuer (``token_issuer``), sign it with a key
it does not publish (``sign_with_unpublished_key``), let it expire
(``expires_in`` negative), or put another nonce in it (``nonce``). It
publishes its key without a ``kid``, as oidc-provider-mock does. The
authorization endpoint signs in at once (no form): the claims of the next
sign-in are :attr:`FakeOidcProvider.claims`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeOidcProvider:
    """A provider at ``url`` (its issuer) until :meth:`stop`; a context manager."""

    def __init__(self) -> None:
        self.key = _rsa_key()
        self.other_key = _rsa_key()
        self.claims: dict[str, Any] = {"sub": "user-1", "email": "ada@example.com"}
        self.token_issuer: str | None = None
        self.discovery_issuer: str | None = None
        self.sign_with_unpublished_key = False
        self.expires_in = 300
        self.nonce: str | None = None
        self.audience: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.discovery_requests = 0
        self.jwks_requests = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------ endpoints

    def _json(self, data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")

    def discovery(self) -> Response:
        self.discovery_requests += 1
        return self._json(
            {
                "issuer": self.discovery_issuer or self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "scopes_supported": ["openid", "email", "profile", "groups"],
                "claims_supported": ["sub", "email", "groups"],
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def jwks(self) -> Response:
        self.jwks_requests += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"use": "sig", "alg": "RS256"})
        return self._json({"keys": [public]})

    def authorize(self, request: Request) -> Response:
        args = request.args
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": args.get("client_id"),
            "nonce": args.get("nonce"),
            "code_challenge": args.get("code_challenge"),
            "redirect_uri": args.get("redirect_uri"),
            "scope": args.get("scope"),
        }
        target = args["redirect_uri"] + "?" + urlencode({"code": code, "state": args["state"]})
        return Response(status=302, headers={"Location": target})

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.token_issuer or self.url,
            "aud": self.audience or grant["client_id"],
            "iat": now - 5 if self.expires_in > 0 else now + self.expires_in - 60,
            "exp": now + self.expires_in,
            "nonce": self.nonce if self.nonce is not None else grant["nonce"],
            **self.claims,
        }
        key = self.other_key if self.sign_with_unpublished_key else self.key
        return jwt.encode(claims, key, algorithm="RS256")

    def token(self, request: Request) -> Response:
        form = dict(request.form.items())
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return self._json({"error": "invalid_grant"}, status=400)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant["code_challenge"] and challenge != grant["code_challenge"]:
            return self._json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        return self._json(
            {
                "access_token": "access-" + secrets.token_urlsafe(8),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            }
        )

    def userinfo(self) -> Response:
        return self._json(dict(self.claims))

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        routes = {
            "/.well-known/openid-configuration": lambda: self.discovery(),
            "/jwks": lambda: self.jwks(),
            "/authorize": lambda: self.authorize(request),
            "/token": lambda: self.token(request),
            "/userinfo": lambda: self.userinfo(),
        }
        handler = routes.get(request.path)
        response = handler() if handler else self._json({"error": "not_found"}, 404)
        return response(environ, start_response)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeOidcProvider:
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_query(url: str) -> dict[str, str]:
    """Return the query of ``url`` as a flat dict."""
    query = url.split("?", 1)[1] if "?" in url else ""
    return {key: values[0] for key, values in parse_qs(query).items()}
