"""Service settings (``GRIDMAP_*``), built in ``create_app`` — never at import time."""

from __future__ import annotations

import zoneinfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from layers.settings import DatabaseSettings, WalkSettings

# Every spelling of an environment name people use, and the one name the service knows it by.
ENVIRONMENTS = {
    "development": "development", "dev": "development", "develop": "development", "local": "development",
    "test": "test", "testing": "test", "ci": "test",
    "production": "production", "prod": "production", "prd": "production", "live": "production",
}
MIN_SECRET_BYTES = 32
# Secrets that were copied from an example and never replaced (compared lower-cased, as substrings).
PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me", "placeholder", "dev-secret", "replace-me", "your-secret")


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign tokens (``None`` when it can): unset, a known placeholder, or shorter than
    32 bytes. One rule for every environment; production refuses to start with such a secret."""
    lowered = secret.strip().lower()
    if not lowered:
        return "GRIDMAP_SECRET_KEY 未设置 (GRIDMAP_SECRET_KEY is not set)"
    if any(mark in lowered for mark in PLACEHOLDER_MARKS) or lowered in {"secret", "password", "gridmap"}:
        return "GRIDMAP_SECRET_KEY 是示例占位值 (GRIDMAP_SECRET_KEY is a placeholder)"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return (f"GRIDMAP_SECRET_KEY 少于 {MIN_SECRET_BYTES} 字节 (GRIDMAP_SECRET_KEY is shorter than "
                f"{MIN_SECRET_BYTES} bytes)")
    return None


DEFAULT_TOKEN_TTL_S = 30 * 60  # a sign-in token lives half an hour unless GRIDMAP_TOKEN_TTL_S says otherwise


class ApiSettings(BaseSettings):
    """HTTP-side settings: environment, limits, the secret used to sign tokens."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    environment: str = Field(
        "development",
        description="development | test | production (any case; dev/local, testing/ci, prod/prd/live accepted); "
        "an unknown name is refused",
    )
    secret_key: str = Field(
        "",
        description="signs access tokens: at least 32 random bytes, never a placeholder (scripts/bootstrap.sh "
        "writes one into .env); without one nobody can sign in, and production refuses to start",
    )
    max_body_bytes: int = Field(5_000_000, description="largest request body accepted, in bytes")
    max_batch_points: int = Field(1_000_000, description="most points accepted by one batch request")
    max_upload_bytes: int = Field(50_000_000, description="largest file upload (…/import), in bytes")
    default_limit: int = Field(1000, description="features per page when a layer request gives no limit")
    max_limit: int = Field(50_000, description="most features one layer request may ask for")
    public_base_url: str | None = Field(
        None,
        description="the service's public address (e.g. https://grid.example.cn) for links handed to other systems "
        "(Open311 discovery); unset: the address each request came to",
    )
    timezone: str = Field("Asia/Shanghai", description="times shown to people and to Open311 clients are in this zone")
    token_ttl_s: int = Field(DEFAULT_TOKEN_TTL_S, ge=60, le=86_400, description="lifetime of a sign-in token, in seconds")
    public_rate_per_min: float = Field(60.0, description="public intake requests per client a minute")
    public_rate_burst: int = Field(20, description="public intake requests a client may send at once")
    intake_batch: int = Field(
        32, ge=1, le=500,
        description="most reports one intake write stores together: reports that arrive while one batch is written "
        "are written in the next (1 = each on its own; see api/intake_queue.py)")
    intake_writers: int = Field(2, ge=1, le=16, description="threads of a worker that store intake batches")
    public_batch_points_per_min: int = Field(
        10_000, ge=0,
        description="points a minute one client may locate with POST /api/v1/locate/batch without signing in "
        "(signed-in staff are not limited; 0 = no limit); a larger anonymous batch is refused",
    )
    trusted_proxies: str = Field(
        "",
        description="reverse proxies whose X-Forwarded-For/-Proto are believed: addresses or CIDR networks, "
        "comma-separated (e.g. 10.0.0.0/8,127.0.0.1); empty = none, the socket's peer is the client",
    )
    open311_api_keys: str = Field("", description="extra Open311 api_key values accepted on POST, comma-separated")
    open311_jurisdiction_id: str = Field(
        "jc.gov.cn",
        description="the one jurisdiction the Open311 endpoint serves (the spec suggests the city's web domain); a "
        "request may omit jurisdiction_id, one naming another jurisdiction is answered 404",
    )

    @property
    def open311_keys(self) -> list[str]:
        """``open311_api_keys`` as a list (blanks dropped)."""
        return [k.strip() for k in self.open311_api_keys.split(",") if k.strip()]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"GRIDMAP_TIMEZONE {value!r} is not an IANA time zone such as Asia/Shanghai") from exc
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The configured time zone."""
        return zoneinfo.ZoneInfo(self.timezone)
    @property
    def trusted_networks(self) -> tuple:
        """``trusted_proxies`` as IP networks."""
        from api.proxies import parse_networks

        return parse_networks(self.trusted_proxies)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        from api.proxies import parse_networks

        parse_networks(value)  # raises with the entry that is not an address or network
        return value

    @field_validator("environment", mode="before")
    @classmethod
    def _normalise_environment(cls, value: object) -> str:
        name = ENVIRONMENTS.get(str(value).strip().lower())
        if name is None:
            raise ValueError(f"GRIDMAP_ENVIRONMENT={value!r} 未知；可用 development | test | production "
                             f"(unknown environment; use development, test or production)")
        return name

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> ApiSettings:
        problem = secret_problem(self.secret_key)
        if self.environment == "production" and problem:
            raise ValueError(f"{problem}; 生产环境拒绝启动 (production refuses to start): set at least "
                             f"{MIN_SECRET_BYTES} random bytes, e.g. python -c 'import secrets; "
                             f"print(secrets.token_urlsafe(48))'")
        return self


class Settings:
    """All settings of one app instance, grouped by concern."""

    def __init__(self, *, api: ApiSettings | None = None, db: DatabaseSettings | None = None,
                 walk: WalkSettings | None = None) -> None:
        self.api = api or ApiSettings()
        self.db = db or DatabaseSettings()
        self.walk = walk or WalkSettings()
