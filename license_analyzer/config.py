"""The TOML configuration (CONTRACT.md), validated once at start-up.

Every problem becomes one ConfigError sentence naming the file, the key and the fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from license_analyzer.errors import ConfigError
from license_analyzer.redact import register_secret, register_url_secrets

DEFAULT_CONFIG_NAME = "license-analyzer.toml"
CONFIG_ENV_VAR = "LICENSE_ANALYZER_CONFIG"

Cloud = Literal["global", "gcc", "usgov", "usgov-dod", "china"]
# how a profile gets its tokens: as an app (secret or certificate), as a signed-in person
# (`login`, refresh token kept encrypted), or as the Azure host's managed identity
Auth = Literal["application", "delegated", "managed_identity"]
TOKEN_CACHE_KEY_MIN = 16


def normalize_resource_url(url: str) -> str:
    """Lowercase, no trailing slash: the form Entra audiences and F&O compare against."""
    return url.strip().rstrip("/").lower()


def _check_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("malformed URL")
    return value.strip()


Url = Annotated[str, BeforeValidator(_check_url)]


def _check_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError("malformed UUID") from None
    return value


Uuid = Annotated[str, BeforeValidator(_check_uuid)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Section):
    url: str = "sqlite:///license-analyzer.db"
    # Where bulk activity (Parquet) lives; default: beside a SQLite file,
    # else ./license-analyzer-data
    data_dir: Path | None = None
    # how long to wait for a database another process holds (SQLite busy timeout)
    lock_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("malformed database URL")
        return v


class ProductThresholds(_Section):
    inactive_days: int | None = Field(default=None, ge=1)
    grace_days: int | None = Field(default=None, ge=0)
    low_usage_days: int | None = Field(default=None, ge=0)


class AnalysisConfig(_Section):
    inactive_days: int = Field(default=60, ge=1)
    grace_days: int = Field(default=30, ge=0)
    low_usage_days: int = Field(default=4, ge=0)  # fewer active days than this ...
    low_usage_window_days: int = Field(default=60, ge=1)  # ... in this many days = low usage
    # evidence must cover this many days before "inactive" may be said; default: inactive_days
    min_history_days: int | None = Field(default=None, ge=1)
    as_of: date | None = None
    # per product family (see catalog/families.toml) or skuPartNumber
    products: dict[str, ProductThresholds] = Field(default_factory=dict)


class ReportsConfig(_Section):
    dir: Path = Path("reports")
    currency: str = Field(default="USD", min_length=3, max_length=3)
    templates: Path | None = None  # a folder whose templates override the packaged ones


class ScheduleConfig(_Section):
    cron: str = "0 6 * * *"
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("malformed cron expression")
        return v


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class NotifyConfig(_Section):
    webhook_url: Url | None = None  # its path and query are secrets (they carry the token)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False  # TLS from the first byte; on by itself on port 465
    # a password is never sent over an unencrypted connection unless this says so
    smtp_allow_plaintext_password: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_to: list[str] = Field(default_factory=list)
    ca_bundle: Path | None = None  # extra trusted CA for the webhook and the SMTP server
    proxy: Url | None = None  # for the webhook; nothing is taken from the environment
    secret_expiry_warning_days: int = Field(default=30, ge=1)

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None:
            parts = urlsplit(v)
            if parts.scheme != "https" and not is_loopback(parts.hostname):
                raise ValueError("webhook_url must use https")
        return v

    @property
    def smtp_tls(self) -> str | None:
        """How the SMTP connection is encrypted: "implicit", "starttls" or None."""
        if self.smtp_implicit_tls or self.smtp_port == 465:
            return "implicit"
        return "starttls" if self.smtp_starttls else None

    @model_validator(mode="after")
    def _no_plaintext_password(self) -> NotifyConfig:
        if (self.smtp_host and self.smtp_password is not None and self.smtp_tls is None
                and not self.smtp_allow_plaintext_password):
            raise ValueError("smtp_password would be sent unencrypted")
        return self


class ReclamationConfig(_Section):
    enabled: bool = False
    max_per_run: int = Field(default=25, ge=0)
    protected_users: list[str] = Field(default_factory=list)  # UPNs or object ids
    protected_groups: list[str] = Field(default_factory=list)  # group ids or display names
    # apply refuses candidates whose analysis is older than this: run analyze first
    max_evidence_age_days: int = Field(default=7, ge=0)


class ExclusionsConfig(_Section):
    users: list[str] = Field(default_factory=list)  # UPNs or object ids
    groups: list[str] = Field(default_factory=list)  # group ids or display names
    departments: list[str] = Field(default_factory=list)
    # account kinds never proposed: "guest", "service", "breakglass", "disabled"
    account_types: list[str] = Field(default_factory=lambda: ["service", "breakglass"])
    upn_patterns: list[str] = Field(default_factory=list)  # fnmatch, e.g. "svc-*@*"


class RulesConfig(_Section):
    files: list[Path] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    custom: list[dict[str, Any]] = Field(default_factory=list)  # validated by the rules engine
    # the target of the packaged `mail_only` rule: a suite used only for mail moves to it
    mail_only_sku: str = "EXCHANGESTANDARD"


class DataverseEnvironment(_Section):
    url: Url
    families: list[str] = Field(default_factory=list)
    url_as_written: str = ""

    @model_validator(mode="after")
    def _normalize(self) -> DataverseEnvironment:
        written = self.url_as_written or self.url
        object.__setattr__(self, "url_as_written", written)
        object.__setattr__(self, "url", normalize_resource_url(self.url))
        return self


def _env_entry(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class FinanceOperationsEnvironment(_Section):
    url: Url
    url_as_written: str = ""
    # license compliance counts production environments only (sandboxes are not validated)
    production: bool = True

    @model_validator(mode="after")
    def _normalize(self) -> FinanceOperationsEnvironment:
        object.__setattr__(self, "url_as_written", self.url_as_written or self.url)
        object.__setattr__(self, "url", normalize_resource_url(self.url))
        return self


class ProfileConfig(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    cloud: Cloud = "global"
    tenant_id: Uuid
    auth: Auth = "application"
    # the app registration; for managed_identity, a user-assigned identity's client id
    # (none: the system-assigned identity)
    client_id: Uuid | None = None
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    certificate_passphrase: SecretStr | None = None
    authority_host: Url | None = None
    graph_url: Url | None = None
    power_platform_url: Url | None = None
    ca_bundle: Path | None = None
    proxy: Url | None = None
    activity_since: date | None = None
    dataverse: list[Annotated[DataverseEnvironment, BeforeValidator(_env_entry)]] = Field(
        default_factory=list
    )
    finance_operations: list[
        Annotated[FinanceOperationsEnvironment, BeforeValidator(_env_entry)]
    ] = Field(default_factory=list)
    discover_environments: bool = False
    audit_concurrency: int = Field(default=16, ge=1, le=52)
    # the sign-in log allows about 5 requests per 10 s per app and tenant; pace under it
    signin_requests_per_10s: int = Field(default=5, ge=1)
    # listing users with signInActivity: 10 requests per minute per app and tenant
    signin_activity_requests_per_minute: int = Field(default=10, ge=1)
    overlap_hours: int = Field(default=48, ge=0)
    token_cache_key: SecretStr | None = None  # delegated: encrypts the stored sign-in
    # managed_identity: an IMDS-style token endpoint instead of http://169.254.169.254
    managed_identity_endpoint: Url | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> ProfileConfig:
        _check_auth(self)
        if self.auth == "application" and (self.client_secret is None
                                           and self.certificate_path is None):
            raise ValueError("needs client_secret or certificate_path")
        if self.token_cache_key is not None:
            register_secret(self.token_cache_key.get_secret_value())
        if self.client_secret is not None:
            register_secret(self.client_secret.get_secret_value())
        if self.certificate_passphrase is not None:
            register_secret(self.certificate_passphrase.get_secret_value())
        return self


class WebConfig(_Section):
    """`serve`: the review app's own Entra app registration, who may do what, sessions."""

    base_url: Url | None = None  # the public address; redirect URI <base_url>/auth/callback
    cloud: Cloud = "global"
    authority_host: Url | None = None  # overrides the cloud's login host (simulator, proxies)
    ca_bundle: Path | None = None  # extra trusted CA for the login host
    tenant_id: Uuid | None = None
    client_id: Uuid | None = None
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    certificate_passphrase: SecretStr | None = None
    session_secret: SecretStr | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # Entra group object ids or app role values (the ID token's groups / roles claims)
    viewers: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    route_to_manager: bool = False

    @model_validator(mode="after")
    def _secrets(self) -> WebConfig:
        for secret in (self.client_secret, self.certificate_passphrase, self.session_secret):
            if secret is not None:
                register_secret(secret.get_secret_value())
        return self


WHOLE_SENTENCE = "sentence: "  # marks a validator's message that is already the whole fix


def _wrong(text: str) -> ValueError:
    return ValueError(f"{WHOLE_SENTENCE}{text}")


def _check_auth(p: ProfileConfig) -> None:
    """The keys each way of signing in needs, and the ones that would be silently ignored."""
    kind = f'auth = "{p.auth}"'
    if p.auth != "managed_identity" and p.client_id is None:
        raise _wrong(f"{kind} needs client_id, the app registration's Application (client) ID")
    if p.auth != "application" and (p.client_secret or p.certificate_path):
        how = ("signs in as a person with `license-analyzer login`" if p.auth == "delegated"
               else "uses the Azure host's identity")
        raise _wrong(f"{kind} {how} and takes no client_secret or certificate_path; remove "
                     "them")
    if p.auth == "delegated":
        key = p.token_cache_key.get_secret_value() if p.token_cache_key else ""
        if not key:
            raise _wrong(f'{kind} needs token_cache_key = "${{VAR}}", the key that encrypts '
                         "the stored sign-in (e.g. the output of `openssl rand -base64 32`)")
        if len(key) < TOKEN_CACHE_KEY_MIN:
            raise _wrong(f"token_cache_key must be at least {TOKEN_CACHE_KEY_MIN} characters; "
                         "use a random one (e.g. `openssl rand -base64 32`)")
    elif p.token_cache_key is not None:
        raise _wrong(f'token_cache_key is only for auth = "delegated"; remove it ({kind})')
    if p.managed_identity_endpoint and p.auth != "managed_identity":
        raise _wrong(f'managed_identity_endpoint is only for auth = "managed_identity"; remove '
                     f"it ({kind})")


class Config(_Section):
    storage: StorageConfig = Field(default_factory=StorageConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    reclamation: ReclamationConfig = Field(default_factory=ReclamationConfig)
    exclusions: ExclusionsConfig = Field(default_factory=ExclusionsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    prices: dict[str, float] = Field(default_factory=dict)
    web: WebConfig = Field(default_factory=WebConfig)
    profiles: list[ProfileConfig] = Field(default_factory=list)
    # the file this came from; relative paths in it resolve against its folder
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_profiles(self) -> Config:
        seen: set[str] = set()
        for profile in self.profiles:
            if profile.name in seen:
                raise ValueError(f"duplicate profile name {profile.name!r}")
            seen.add(profile.name)
        return self

    def profile(self, name: str | None) -> list[ProfileConfig]:
        """The profiles a command acts on: all, or the one named."""
        if name is None:
            return list(self.profiles)
        chosen = [p for p in self.profiles if p.name == name]
        if not chosen:
            known = ", ".join(p.name for p in self.profiles) or "none"
            raise ConfigError(f"There is no profile named {name!r} (known: {known}).")
        return chosen

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        if path.is_absolute() or self.source_path is None:
            return path
        return self.source_path.parent / path




_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# keys whose values are secrets wherever they appear: masked in every message, log record and
# traceback from the moment the file is read, never echoed back in an error
SECRET_KEYS = frozenset({"client_secret", "certificate_passphrase", "smtp_password",
                         "session_secret", "token_cache_key"})
URL_SECRET_KEYS = frozenset({"webhook_url"})


def _is_secret(key: str) -> bool:
    name = key.rsplit(".", 1)[-1].split("[", 1)[0].split(" ", 1)[0]
    return name in SECRET_KEYS or name in URL_SECRET_KEYS


def register_secrets(value: Any) -> None:
    """Register every secret-bearing value of the parsed (and expanded) TOML, before
    validation: a validation error may quote the table that holds it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str | int | float):
                register_secret(str(item))
            elif key in URL_SECRET_KEYS and isinstance(item, str):
                register_url_secrets(item)
            else:
                register_secrets(item)
    elif isinstance(value, list):
        for item in value:
            register_secrets(item)


def _expand_env(value: Any, where: str, file: Path) -> Any:
    """Replace ${VAR} with the environment's value, everywhere in the parsed TOML."""
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else k, file) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", file) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"{file}: {where} refers to ${{{name}}}, which is not set in the environment;"
                    f" export {name} or write the value into the file."
                )
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    return value


_FIXES = {
    "extra_forbidden": "remove it or check its spelling against config.example.toml",
    "missing": "add it (see config.example.toml)",
    "uuid": "write a GUID like 00000000-0000-0000-0000-000000000000",
    "url": "write a full URL like https://contoso.crm.dynamics.com",
    "database": "write sqlite:///path.db or postgresql+psycopg://user@host/db",
    "cron": "write five cron fields like \"0 6 * * *\"",
    "credential": "set client_secret or certificate_path",
    "https": "write an https:// URL (plain http only to 127.0.0.1 or localhost)",
    "plaintext": "set smtp_starttls = true or use port 465 (implicit TLS); only if the server"
                 " is on a network you trust, set smtp_allow_plaintext_password = true",
}


def _key_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            name = node[item].get("name") if isinstance(node, list) and isinstance(
                node[item], dict) else None
            if name:
                parts[-1] = f"[{item}] ({name})"
        elif "[" in item:  # a validator's name in the location, not a key
            continue
        else:
            parts.append(f".{item}" if parts else str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts)


def _sentence(file: Path, error: dict[str, Any], data: dict[str, Any]) -> str:
    key = _key_path(tuple(error["loc"]), data)
    kind = error["type"]
    message = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return f"{file}: unknown key {key}; {_FIXES['extra_forbidden']}."
    if kind == "missing":
        return f"{file}: {key} is missing; {_FIXES['missing']}."
    if WHOLE_SENTENCE in message:
        return f"{file}: {key or 'profile'}: {message.split(WHOLE_SENTENCE, 1)[1]}."
    for needle, fix in (("UUID", "uuid"), ("malformed URL", "url"), ("database URL", "database"),
                        ("cron", "cron"), ("client_secret or certificate_path", "credential"),
                        ("must use https", "https"), ("unencrypted", "plaintext")):
        if needle in message:
            reason = message.removeprefix("Value error, ")
            return f"{file}: {key or 'profile'} is not valid ({reason}); {_FIXES[fix]}."
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or _is_secret(key) else f" (got {got!r})"
    return f"{file}: {key} has the wrong type or value{shown}: {message}; fix it in the file."


def _detail(exc: ValidationError) -> str:
    """The validation errors for the log, without the values they are about (a value may
    be, or contain, a secret)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                     for e in exc.errors(include_url=False, include_input=False))


def parse_config(text: str, file: Path) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML ({exc}); fix the syntax there.") from None
    data = _expand_env(raw, "", file)
    register_secrets(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if "duplicate profile name" in str(first.get("msg", "")):
            name = str(first["msg"]).split("'")[1]
            raise ConfigError(
                f"{file}: profiles has two profiles named {name!r}; give each profile its own name."
            ) from None
        raise ConfigError(_sentence(file, dict(first), data), detail=_detail(exc)) from None
    return config.model_copy(update={"source_path": file})


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV_VAR)
    return Path(env) if env else Path(DEFAULT_CONFIG_NAME)


def load_config(explicit: Path | None = None) -> Config:
    path = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"No configuration file at {path}; copy config.example.toml there"
            " or pass --config PATH."
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration file {path} ({exc.strerror}).") from None
    return parse_config(text, path)
