"""The profile's credential in the form msal wants: a secret, or a certificate from one PEM file.

The PEM holds the private key and the certificate (what `openssl req -x509 -nodes -keyout k
-out c` and Azure's "PEM with key" export produce, concatenated). Its SHA-1 thumbprint is what
the Entra portal shows; msal 1.35+ signs with the SHA-256 thumbprint when given the
certificate, which Microsoft now prefers over SHA-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msal
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from license_analyzer.config import ProfileConfig
from license_analyzer.errors import ConfigError

_KEY = re.compile(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?"
                  r"-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----", re.S)
_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _msal_signs_sha256() -> bool:
    try:
        major, minor = (int(part) for part in str(msal.__version__).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 35)


@dataclass(frozen=True)
class CertificateInfo:
    thumbprint_sha1: str  # upper-case hex, as the Entra portal shows it
    not_after: datetime
    subject: str


def certificate_info(cert_pem: str) -> CertificateInfo:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return CertificateInfo(
        thumbprint_sha1=cert.fingerprint(hashes.SHA1()).hex().upper(),
        not_after=cert.not_valid_after_utc,
        subject=cert.subject.rfc4514_string(),
    )


def load_certificate(path: Path, passphrase: str | None) -> tuple[dict[str, Any], CertificateInfo]:
    """msal's client_credential dict for a PEM file with key and certificate."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"The certificate file {path} does not exist; fix certificate_path in "
                          "the profile.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the certificate file {path}; certificate_path must be a "
                          "PEM file with the private key and the certificate.",
                          detail=type(exc).__name__) from None
    key_match, cert_match = _KEY.search(text), _CERT.search(text)
    if key_match is None or cert_match is None:
        missing = "private key" if key_match is None else "certificate"
        raise ConfigError(f"The certificate file {path} has no {missing}; certificate_path must be"
                          " a PEM file holding both the private key and the certificate.")
    key_pem, cert_pem = key_match.group(0), cert_match.group(0)
    try:
        key = serialization.load_pem_private_key(
            key_pem.encode(), passphrase.encode() if passphrase else None)
    except TypeError:
        raise ConfigError(f"The private key in {path} is encrypted; set certificate_passphrase in"
                          " the profile.") from None
    except ValueError:
        raise ConfigError(f"The private key in {path} cannot be read (wrong "
                          "certificate_passphrase, or not a PEM key); check both.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"The private key in {path} is not an RSA key; Microsoft Entra ID "
                          "accepts only RSA certificates for app credentials.")
    try:
        info = certificate_info(cert_pem)
    except ValueError:
        raise ConfigError(f"The certificate in {path} cannot be read; export it again as PEM."
                          ) from None
    credential: dict[str, Any] = {"private_key": key_pem, "public_certificate": cert_pem}
    if not _msal_signs_sha256():  # older msal needs the SHA-1 thumbprint spelled out
        credential["thumbprint"] = info.thumbprint_sha1
    if passphrase:
        credential["passphrase"] = passphrase
    return credential, info


def client_credential(profile: ProfileConfig, base_dir: Path | None
                      ) -> tuple[str | dict[str, Any], CertificateInfo | None]:
    """The secret string, or the certificate dict and what the certificate says about itself."""
    if profile.certificate_path is not None:
        path = profile.certificate_path
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        passphrase = (profile.certificate_passphrase.get_secret_value()
                      if profile.certificate_passphrase else None)
        return load_certificate(path, passphrase)
    assert profile.client_secret is not None  # config guarantees one of the two
    return profile.client_secret.get_secret_value(), None
