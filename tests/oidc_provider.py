"""A minimal OpenID Connect provider for tests, on loopback only.

Discovery, JWKS, an authorization endpoint that signs in whoever the test
named (no password page), and a token endpoint that returns an RS256-signed
ID token carrying that user's e-mail and the request's nonce.  Test support
code: never for real use.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey


class TestOIDCProvider:
    def __init__(self, client_id: str = "outcomes-test"):
        self.client_id = client_id
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.next_email = "nobody@example.invalid"
        self.next_email_verified = True  # the provider's email_verified claim for the next sign-in
        self.codes: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, payload, status=200):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    i = provider.issuer
                    return self._json({"issuer": i, "authorization_endpoint": f"{i}/authorize",
                                       "token_endpoint": f"{i}/token", "jwks_uri": f"{i}/jwks",
                                       "userinfo_endpoint": f"{i}/userinfo",
                                       "response_types_supported": ["code"], "subject_types_supported": ["public"],
                                       "id_token_signing_alg_values_supported": ["RS256"],
                                       "scopes_supported": ["openid", "email", "profile"],
                                       "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                                                 "client_secret_post"]})
                if url.path == "/jwks":
                    return self._json({"keys": [provider.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    q = dict(urllib.parse.parse_qsl(url.query))
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"email": provider.next_email, "nonce": q.get("nonce"),
                                            "email_verified": provider.next_email_verified}
                    target = f"{q['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': q.get('state', '')})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    return self._json({"sub": provider.next_email, "email": provider.next_email,
                                       "email_verified": provider.next_email_verified})
                return self._json({"error": "not found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None:
                    return self._json({"error": "invalid_grant"}, 400)
                now = int(time.time())
                claims = {"iss": provider.issuer, "sub": grant["email"], "aud": provider.client_id, "iat": now,
                          "exp": now + 600, "email": grant["email"], "email_verified": grant["email_verified"],
                          "name": grant["email"].split("@")[0]}
                if grant["nonce"]:
                    claims["nonce"] = grant["nonce"]
                token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, provider.key)
                return self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                   "expires_in": 600, "id_token": token, "scope": "openid email profile"})

        return Handler
