"""The TOML configuration (CONTRACT.md), validated once at start-up.

Every problem becomes one ConfigError sentence naming the file, the key and the fix.
"""

from __future__ import annotations

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
from license_analyzer.redact import register_secret

DEFAULT_CONFIG_NAME = "license-analyzer.toml"
CONFIG_ENV_VAR = "LICENSE_ANALYZER_CONFIG"

Cloud = Literal["global", "gcc", "usgov", "usgov-dod", "china"]


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


class NotifyConfig(_Section):
    webhook_url: Url | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_to: list[str] = Field(default_factory=list)
    secret_expiry_warning_days: int = Field(default=30, ge=1)


class ReclamationConfig(_Section):
    enabled: bool = False
    max_per_run: int = Field(default=25, ge=0)
    protected_users: list[str] = Field(default_factory=list)
    protected_groups: list[str] = Field(default_factory=list)


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

    @model_validator(mode="after")
    def _normalize(self) -> FinanceOperationsEnvironment:
        object.__setattr__(self, "url_as_written", self.url_as_written or self.url)
        object.__setattr__(self, "url", normalize_resource_url(self.url))
        return self


class ProfileConfig(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    cloud: Cloud = "global"
    tenant_id: Uuid
    client_id: Uuid
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

    @model_validator(mode="after")
    def _one_credential(self) -> ProfileConfig:
        if self.client_secret is None and self.certificate_path is None:
            raise ValueError("needs client_secret or certificate_path")
        if self.client_secret is not None:
            register_secret(self.client_secret.get_secret_value())
        if self.certificate_passphrase is not None:
            register_secret(self.certificate_passphrase.get_secret_value())
        return self


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
    for needle, fix in (("UUID", "uuid"), ("malformed URL", "url"), ("database URL", "database"),
                        ("cron", "cron"), ("client_secret or certificate_path", "credential")):
        if needle in message:
            reason = message.removeprefix("Value error, ")
            return f"{file}: {key or 'profile'} is not valid ({reason}); {_FIXES[fix]}."
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or "secret" in key else f" (got {got!r})"
    return f"{file}: {key} has the wrong type or value{shown}: {message}; fix it in the file."


def parse_config(text: str, file: Path) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML ({exc}); fix the syntax there.") from None
    data = _expand_env(raw, "", file)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if "duplicate profile name" in str(first.get("msg", "")):
            name = str(first["msg"]).split("'")[1]
            raise ConfigError(
                f"{file}: profiles has two profiles named {name!r}; give each profile its own name."
            ) from None
        raise ConfigError(_sentence(file, dict(first), data), detail=str(exc)) from None
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
