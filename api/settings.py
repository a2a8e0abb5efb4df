"""Service settings (``GRIDMAP_*``), built in ``create_app`` — never at import time."""

from __future__ import annotations

import zoneinfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from layers.settings import DatabaseSettings, WalkSettings

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret-change-me"}


class ApiSettings(BaseSettings):
    """HTTP-side settings: environment, limits, the secret used to sign tokens."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    environment: str = Field("development", description="development | test | production")
    secret_key: str = Field("dev-secret-change-me", description="signs access tokens; set it in production")
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
    token_ttl_s: int = Field(1800, ge=60, le=86_400, description="lifetime of a sign-in token, in seconds")
    public_rate_per_min: float = Field(60.0, description="public intake requests per client a minute")
    public_rate_burst: int = Field(20, description="public intake requests a client may send at once")
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

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> ApiSettings:
        if self.environment == "production" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError("GRIDMAP_SECRET_KEY must be set to a real secret in production")
        return self


class Settings:
    """All settings of one app instance, grouped by concern."""

    def __init__(self, *, api: ApiSettings | None = None, db: DatabaseSettings | None = None,
                 walk: WalkSettings | None = None) -> None:
        self.api = api or ApiSettings()
        self.db = db or DatabaseSettings()
        self.walk = walk or WalkSettings()
