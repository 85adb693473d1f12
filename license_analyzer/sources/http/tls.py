"""Which certificate authorities a profile trusts.

Trust is decided here and nowhere else: the public roots Mozilla curates (certifi, the same
roots httpx uses by default) plus the profile's `ca_bundle` when it has one. Environment
variables such as SSL_CERT_FILE or REQUESTS_CA_BUNDLE are deliberately ignored (every client
is built with trust_env=False), so `ca_bundle` means exactly what it says on every machine.

Why "public roots plus the bundle" rather than "only the bundle": a corporate TLS-inspecting
proxy needs its own CA, but the same profile may still reach Microsoft directly for hosts the
proxy does not intercept; adding the bundle to the public roots lets both work.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from license_analyzer.errors import ConfigError


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except FileNotFoundError:
            raise ConfigError(
                f"The ca_bundle file {ca_bundle} does not exist; fix the path in the profile."
            ) from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"The ca_bundle file {ca_bundle} holds no PEM certificate; point ca_bundle at "
                "the CA certificate file (PEM) of your proxy or server.",
                detail=str(exc),
            ) from None
    return context
