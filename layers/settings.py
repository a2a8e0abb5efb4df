"""Database and data-folder settings, read from the environment (``GRIDMAP_DATABASE_URL`` or ``GRIDMAP_DB_*``) and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.domain import WALK_SPEED_KMH

if TYPE_CHECKING:  # SQLAlchemy is imported where a URL object is needed: a command that talks to the driver
    from sqlalchemy.engine import URL  # alone (gridmap locate FILE) never imports it


class DatabaseSettings(BaseSettings):
    """Where PostGIS is.

    Either give the whole URL in ``GRIDMAP_DATABASE_URL`` or its parts in ``GRIDMAP_DB_HOST``, ``_PORT``,
    ``_USER``, ``_PASSWORD`` and ``_NAME``; the URL wins when both are given.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_DB_", env_file=".env", extra="ignore")

    url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDMAP_DATABASE_URL", "GRIDMAP_DB_URL", "url"),
        description="SQLAlchemy URL, e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/gridmap",
    )
    read_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDMAP_DATABASE_READ_URL", "GRIDMAP_DB_READ_URL", "read_url"),
        description="a streaming replica of the primary for read-heavy endpoints (locate, layers, OGC, maps, "
        "tiles, public lists); unset: everything reads from the primary",
    )
    replica_retry_s: float = Field(
        default=5.0, gt=0, description="after the replica fails to answer, reads use the primary for this long")
    read_your_writes_s: int = Field(
        default=300, ge=1, description="how long after a write the writer's reads check that the replica has "
        "replayed it (the cookie's lifetime)")
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str | None = None
    name: str = "gridmap"
    pool_size: int = 10
    max_overflow: int = 20
    pool_timeout_s: float = 5.0
    connect_timeout_s: int = 3
    statement_timeout_ms: int = 30_000
    jit: bool = Field(
        default=False,
        description="PostgreSQL JIT for the service's sessions. Off: PostGIS calls are opaque to it, yet their high "
        "cost estimates make it compile (~0.3 s) for every vector tile or clustered layer query",
    )

    @model_validator(mode="after")
    def _assemble_url(self) -> DatabaseSettings:
        self.read_url = _psycopg2_url(self.read_url) if self.read_url else None
        if not self.url:
            from sqlalchemy.engine import URL

            self.url = URL.create(
                "postgresql+psycopg2",
                username=self.user,
                password=self.password,
                host=self.host,
                port=self.port,
                database=self.name,
            ).render_as_string(hide_password=False)
        else:
            self.url = _psycopg2_url(self.url)
        return self

    @property
    def sqlalchemy_url(self) -> URL:
        """The URL as a SQLAlchemy :class:`URL` object."""
        from sqlalchemy.engine import make_url

        return make_url(self.url or "")

    @property
    def libpq_url(self) -> str:
        """The URL as libpq (psycopg2) takes it: ``postgresql://…`` without the SQLAlchemy driver name."""
        return "postgresql://" + (self.url or "").split("://", 1)[1]

    def driver_options(self) -> dict[str, Any]:
        """What every connection is opened with: the connect timeout, the statement timeout, JIT off unless
        :attr:`jit`, and the application name."""
        return {"connect_timeout": self.connect_timeout_s,
                "options": f"-c statement_timeout={self.statement_timeout_ms} -c jit={'on' if self.jit else 'off'}",
                "application_name": "gridmap"}

    def with_database(self, name: str) -> DatabaseSettings:
        """A copy pointing at another database on the same server (and on its replica, if one is set; used for
        throwaway test databases)."""
        from sqlalchemy.engine import make_url

        url = self.sqlalchemy_url.set(database=name).render_as_string(hide_password=False)
        read_url = make_url(self.read_url).set(database=name).render_as_string(hide_password=False) \
            if self.read_url else None
        return self.model_copy(update={"url": url, "name": name, "read_url": read_url})

    def replica_settings(self) -> DatabaseSettings | None:
        """Settings of the read replica (same pool and timeouts), or ``None`` if there is none."""
        if not self.read_url:
            return None
        return self.model_copy(update={"url": self.read_url, "read_url": None})


def _psycopg2_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs with the psycopg2 driver SQLAlchemy is to use."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def _default_data_dir() -> Path:
    """``data/`` of the source checkout, or of the working directory when gridmap is pip-installed."""
    root = Path(__file__).resolve().parents[1]
    base = root if (root / "pyproject.toml").is_file() else Path.cwd()
    return base / "data"


class DataSettings(BaseSettings):
    """Where the real input files live (``GRIDMAP_DATA_DIR``): the repository's own ``data/`` by default."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="folder with jinchang/ (boundaries, division codes) and osm/ (OpenStreetMap extracts)",
    )

    @property
    def jinchang(self) -> Path:
        """The Jinchang boundaries and 统计用区划代码 (``data/jinchang``)."""
        return self.data_dir / "jinchang"

    @property
    def osm(self) -> Path:
        """The OpenStreetMap extracts (``data/osm``)."""
        return self.data_dir / "osm"


class IncidentSettings(BaseSettings):
    """Incident rules that an operator may replace (``GRIDMAP_INCIDENT_CATEGORIES``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    incident_categories: Path | None = Field(
        default=None,
        description="a JSON file with the incident category table (a list of {code, zh, en, role, deadline_h"
        "[, family, sensitive, keywords, street_duty]}); the built-in table of gis.incidents when unset",
    )


class WalkSettings(BaseSettings):
    """How fast people walk (``GRIDMAP_WALK_SPEED_KMH``): the one speed that turns minutes into metres for the
    service circles, "what can I reach from here", coverage, the CLI and every map."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_WALK_", env_file=".env", extra="ignore")

    speed_kmh: float = Field(WALK_SPEED_KMH, gt=0, le=30, description="walking speed in km/h (GB 50180-2018: 5 km/h)")
