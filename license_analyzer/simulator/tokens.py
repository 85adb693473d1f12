"""Signs access tokens and checks them, plus the client assertions msal sends."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """x5t (SHA-1) and x5t#S256 values as msal puts them in the assertion header."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())


class TokenError(Exception):
    """Why a bearer token was refused; `reason` picks the resource's error text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenIssuer:
    def __init__(self, tenant_id: str, time_scale: float) -> None:
        self.tenant_id = tenant_id
        self.time_scale = time_scale
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = b64url(secrets.token_bytes(20))
        self._public = self._key.public_key()
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        key = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64url(n),
            "e": b64url(e),
            "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
        }
        return {"keys": [key]}

    def issue(
        self,
        *,
        audience: str,
        client_id: str,
        sp_object_id: str,
        roles: list[str],
        lifetime_s: float,
        acr: str,
    ) -> tuple[str, int]:
        now = time.time()
        lifetime = max(1.0, lifetime_s)
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": now + lifetime,
            "aio": b64url(secrets.token_bytes(24)),
            "app_displayname": "license-analyzer",
            "appid": client_id,
            "appidacr": acr,
            "idp": f"https://sts.windows.net/{self.tenant_id}/",
            "idtyp": "app",
            "oid": sp_object_id,
            "rh": "0.AAAA" + b64url(secrets.token_bytes(12)),
            "sub": sp_object_id,
            "tid": self.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        if roles:
            claims["roles"] = sorted(roles)
        token = jwt.encode(
            claims,
            self._key,
            algorithm="RS256",
            headers={"kid": self.kid, "x5t": self.kid, "typ": "JWT"},
        )
        return token, max(1, int(lifetime))

    def sign(self, claims: dict[str, Any]) -> str:
        """Any JWT signed with the tenant's key (user access tokens, ID tokens)."""
        return jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a token we issued; raises TokenError('expired'|'invalid')."""
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self._public,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False},
                )
            except jwt.PyJWTError as exc:
                raise TokenError("invalid") from exc
            with self._lock:
                self._cache[token] = claims
                if len(self._cache) > 4096:
                    self._cache.popitem(last=False)
        if float(claims["exp"]) <= time.time():
            raise TokenError("expired")
        return claims


def verify_client_assertion(
    assertion: str, certificates: dict[str, x509.Certificate], client_id: str
) -> tuple[str, str]:
    """Checks msal's signed JWT; returns ("ok", thumb) or (failure reason, thumb)."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return "malformed", ""
    thumb = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")
    cert = certificates.get(thumb)
    if cert is None:
        return "unknown_key", thumb
    alg = str(header.get("alg", ""))
    if alg not in ("RS256", "PS256"):
        return "bad_signature", thumb
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key(),  # type: ignore[arg-type]
            algorithms=[alg],
            options={"verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        return "expired", thumb
    except jwt.PyJWTError:
        return "bad_signature", thumb
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "bad_issuer", thumb
    aud = str(claims.get("aud", ""))
    if not aud.endswith("/oauth2/v2.0/token") and not aud.endswith("/oauth2/token"):
        return "bad_audience", thumb
    return "ok", thumb


def new_certificate(common_name: str) -> tuple[bytes, bytes]:
    """A self-signed RSA certificate like `New-SelfSignedCertificate` would make."""
    import datetime as dt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int(uuid.uuid4()))
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
