"""Trusting CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): every service call carries a
JWT signed by the EHR with an asymmetric key; ifnscope accepts it only from an issuer on its
allow-list, with a key of the right type from that issuer's JWK Set, for this very endpoint
(``aud``), unexpired and short-lived, and never twice (``jti``: the caller records it in the
database, so that no worker process and no restart accepts it again). PyJWT does the
cryptography; this module the policy.

The allow-list is a YAML file (``IFNSCOPE_CDS_CLIENTS``)::

    clients:
      - iss: https://sandbox.cds-hooks.org
        jwks_url: https://sandbox.cds-hooks.org/.well-known/jwks.json
        fhir_servers: [https://ehr.example.org/fhir]   # may be read with fhirAuthorization
      - iss: https://ehr.example.org
        jwks_file: /etc/ifnscope/ehr-jwks.json     # or jwks: {keys: [...]} inline
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from ifnscope.errors import AuthError, DataError

# Asymmetric only: the specification forbids "none" and every symmetric (HMAC) algorithm.
# The key type each family needs: a header's alg never picks a key of another kind.
ALGORITHMS = {
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
}
LEEWAY_SECONDS = 30  # clock skew between the EHR and this server
MAX_LIFETIME_SECONDS = 300  # a CDS Hooks JWT is for one call: exp - iat at most 5 minutes
JWKS_CACHE_SECONDS = 600
JWKS_REFRESH_SECONDS = 60  # an unknown kid reads the issuer's key set again at most this often


class Client(BaseModel):
    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks: dict[str, Any] | None = None
    fhir_servers: list[str] = Field(
        default_factory=list, description="FHIR base URLs this EHR may point ifnscope at (fhirServer)"
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> Client:
        if sum(x is not None for x in (self.jwks_url, self.jwks_file, self.jwks)) != 1:
            raise ValueError(f"{self.iss}: give exactly one of jwks_url, jwks_file or jwks")
        return self


class _ClientFile(BaseModel):
    clients: list[Client]


def _keys_of(data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(f"{where}: a JWK Set is an object with a 'keys' list")
    return [k for k in data["keys"] if isinstance(k, dict)]


@dataclass
class TrustedClients:
    """The allow-list, with each issuer's JWK Set (files read once; URLs fetched and cached)."""

    clients: dict[str, Client]
    _static: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _cache: dict[str, tuple[float, list[dict[str, Any]]]] = field(default_factory=dict)
    _refreshed: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(cls, path: Path) -> TrustedClients:
        import yaml

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = _ClientFile.model_validate(raw)
            out = cls({c.iss: c for c in parsed.clients})
            for c in parsed.clients:  # a file or an inline set: read and checked at start
                if c.jwks is not None:
                    out._static[c.iss] = _keys_of(c.jwks, c.iss)
                elif c.jwks_file is not None:
                    data = json.loads(c.jwks_file.read_text(encoding="utf-8"))
                    out._static[c.iss] = _keys_of(data, str(c.jwks_file))
        except Exception as exc:
            raise DataError(f"{path}: not a valid CDS client list: {exc}", code="data.invalid") from exc
        return out

    def fhir_servers(self, iss: str) -> list[str]:
        return list(self.clients[iss].fhir_servers) if iss in self.clients else []

    def _jwks(self, client: Client, *, refresh: bool = False) -> list[dict[str, Any]]:
        if client.iss in self._static:
            return self._static[client.iss]
        assert client.jwks_url is not None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(client.iss)
            fresh = hit is not None and now - hit[0] < JWKS_CACHE_SECONDS
            recently = now - self._refreshed.get(client.iss, -1e9) < JWKS_REFRESH_SECONDS
            if hit is not None and ((fresh and not refresh) or recently):
                return hit[1]
            if hit is None and recently:  # the last read failed a moment ago: do not hammer it
                raise AuthError("the issuer's key set is unavailable; retry in a minute", code="auth.invalid")
            self._refreshed[client.iss] = now
        import httpx

        try:
            r = httpx.get(client.jwks_url, timeout=5, follow_redirects=False)
            r.raise_for_status()
            keys = _keys_of(r.json(), "the issuer's key set")
        except Exception as exc:
            raise AuthError(
                f"the issuer's key set could not be read ({type(exc).__name__})", code="auth.invalid"
            ) from None
        with self._lock:
            self._cache[client.iss] = (now, keys)
        return keys

    def _key(self, client: Client, kid: str, alg: str) -> Any:
        import jwt

        for refresh in (False, True):  # a new key: read the set again (at most once a minute)
            for jwk in self._jwks(client, refresh=refresh):
                if jwk.get("kid") != kid:
                    continue
                if jwk.get("kty") != ALGORITHMS[alg] or jwk.get("alg", alg) != alg:
                    raise AuthError(f"key {kid!r} is not a key for {alg}", code="auth.invalid")
                try:
                    return jwt.PyJWK.from_dict(jwk).key
                except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                    raise AuthError(
                        f"key {kid!r} in the issuer's key set is not usable", code="auth.invalid"
                    ) from None
            if client.iss in self._static:
                break
        raise AuthError(f"no key {kid!r} in the issuer's key set", code="auth.invalid")

    def verify(self, token: str | None, audience: str) -> tuple[str, str, float]:
        """``(issuer, jti, exp)`` of a valid JWT for ``audience`` (this endpoint's URL). Blocking
        (it may read the issuer's key set): call it in a worker thread."""
        import jwt

        if not token:
            raise AuthError(
                "a CDS Hooks call needs its JWT (Authorization: Bearer ...)", code="auth.required"
            )
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("the Authorization header does not hold a JWT", code="auth.invalid") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise AuthError(f"JWT algorithm {alg!r} is not accepted (asymmetric only)", code="auth.invalid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the JWT header has no kid", code="auth.invalid")
        iss = unverified.get("iss") if isinstance(unverified, dict) else None
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise AuthError("the JWT's issuer is not a trusted CDS client", code="auth.invalid")
        if "jku" in header and header["jku"] != client.jwks_url:
            raise AuthError("the JWT's jku is not the issuer's registered key set", code="auth.invalid")
        key = self._key(client, kid, alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"the JWT is not valid: {exc}", code="auth.invalid") from None
        except (ValueError, TypeError):
            raise AuthError(
                "the JWT is not valid: its signature cannot be checked", code="auth.invalid"
            ) from None
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:
            raise AuthError("the JWT's jti is not a string", code="auth.invalid")
        if float(exp) - float(iat) > MAX_LIFETIME_SECONDS + LEEWAY_SECONDS:
            raise AuthError(
                f"the JWT lives longer than {MAX_LIFETIME_SECONDS} s (exp - iat): one call, one token",
                code="auth.invalid",
            )
        return str(iss), jti, float(exp)
