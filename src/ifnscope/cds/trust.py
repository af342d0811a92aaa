"""Trusting CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): every service call carries a
JWT signed by the EHR with an asymmetric key; ifnscope accepts it only from an issuer on its
allow-list, with the key from that issuer's JWK Set, for this very endpoint (``aud``), unexpired,
and never twice (``jti``). PyJWT does the cryptography; this module the policy.

The allow-list is a YAML file (``IFNSCOPE_CDS_CLIENTS``)::

    clients:
      - iss: https://sandbox.cds-hooks.org
        jwks_url: https://sandbox.cds-hooks.org/.well-known/jwks.json
      - iss: https://ehr.example.org
        jwks_file: /etc/ifnscope/ehr-jwks.json     # or jwks: {keys: [...]} inline
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from ifnscope.errors import AuthError, DataError

# Asymmetric only: the specification forbids "none" and every symmetric (HMAC) algorithm.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
LEEWAY_SECONDS = 30  # clock skew between the EHR and this server
JWKS_CACHE_SECONDS = 600


class Client(BaseModel):
    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Client:
        if sum(x is not None for x in (self.jwks_url, self.jwks_file, self.jwks)) != 1:
            raise ValueError(f"{self.iss}: give exactly one of jwks_url, jwks_file or jwks")
        return self


class _ClientFile(BaseModel):
    clients: list[Client]


@dataclass
class TrustedClients:
    """The allow-list, with each issuer's JWK Set (fetched from ``jwks_url`` and cached)."""

    clients: dict[str, Client]
    _cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)  # jti -> expiry: replay protection
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(cls, path: Path) -> TrustedClients:
        import yaml

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = _ClientFile.model_validate(raw)
        except Exception as exc:
            raise DataError(f"{path}: not a valid CDS client list: {exc}", code="data.invalid") from exc
        return cls({c.iss: c for c in parsed.clients})

    def _jwks(self, client: Client, *, refresh: bool = False) -> dict[str, Any]:
        if client.jwks is not None:
            return client.jwks
        if client.jwks_file is not None:
            import json

            data: dict[str, Any] = json.loads(client.jwks_file.read_text(encoding="utf-8"))
            return data
        assert client.jwks_url is not None
        now = time.monotonic()
        hit = self._cache.get(client.iss)
        if hit and not refresh and now - hit[0] < JWKS_CACHE_SECONDS:
            return hit[1]
        import httpx

        try:
            r = httpx.get(client.jwks_url, timeout=5, follow_redirects=False)
            r.raise_for_status()
            keys: dict[str, Any] = r.json()
        except Exception as exc:
            raise AuthError(
                f"the issuer's key set could not be read ({type(exc).__name__})", code="auth.invalid"
            ) from exc
        self._cache[client.iss] = (now, keys)
        return keys

    def _key(self, client: Client, kid: str) -> Any:
        import jwt

        for refresh in (False, True):  # a new key: read the set again once
            for jwk in self._jwks(client, refresh=refresh).get("keys", []):
                if isinstance(jwk, dict) and jwk.get("kid") == kid:
                    return jwt.PyJWK.from_dict(jwk).key
            if client.jwks_url is None:
                break
        raise AuthError(f"no key {kid!r} in the issuer's key set", code="auth.invalid")

    def verify(self, token: str | None, audiences: list[str]) -> str:
        """The issuer of a valid JWT for one of ``audiences`` (this endpoint's URLs)."""
        import jwt

        if not token:
            raise AuthError(
                "a CDS Hooks call needs its JWT (Authorization: Bearer ...)", code="auth.required"
            )
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("the Authorization header does not hold a JWT", code="auth.invalid") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise AuthError(f"JWT algorithm {alg!r} is not accepted (asymmetric only)", code="auth.invalid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the JWT header has no kid", code="auth.invalid")
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise AuthError("the JWT's issuer is not a trusted CDS client", code="auth.invalid")
        if "jku" in header and header["jku"] != client.jwks_url:
            raise AuthError("the JWT's jku is not the issuer's registered key set", code="auth.invalid")
        try:
            claims = jwt.decode(
                token,
                self._key(client, kid),
                algorithms=[alg],
                audience=audiences,
                issuer=iss,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"the JWT is not valid: {exc}", code="auth.invalid") from None
        jti = str(claims["jti"])
        with self._lock:
            now = time.time()
            for k in [k for k, exp in self._seen.items() if exp < now - LEEWAY_SECONDS]:
                del self._seen[k]
            if jti in self._seen:
                raise AuthError("this JWT was used before (jti replay)", code="auth.invalid")
            self._seen[jti] = float(claims["exp"])
        return str(iss)
