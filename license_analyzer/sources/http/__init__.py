"""HTTP to Microsoft: clouds, msal tokens, the client factory, retries and error sentences."""

from .auth import MsalAuth, TokenProvider, jwt_claims
from .client import Connection, connect, plain_client
from .clouds import CLOUDS, Endpoints, endpoints, resource_scope
from .errors import (
    MissingPermission,
    NoPremiumLicense,
    UntrustedCertificate,
    check,
    permission_for,
    transport_error,
)
from .retry import RetryPolicy, RetryStats, RetryTransport, ThrottledTooLong

__all__ = [
    "CLOUDS",
    "Connection",
    "Endpoints",
    "MissingPermission",
    "MsalAuth",
    "NoPremiumLicense",
    "RetryPolicy",
    "RetryStats",
    "RetryTransport",
    "ThrottledTooLong",
    "TokenProvider",
    "UntrustedCertificate",
    "check",
    "connect",
    "endpoints",
    "jwt_claims",
    "permission_for",
    "plain_client",
    "resource_scope",
    "transport_error",
]
