"""Map settings (``GRIDMAP_MAP_*``): the basemap, its keys, where the offline JS/CSS live, when to tile."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]

Basemap = Literal["osm", "tianditu", "amap", "none"]


def _default_vendor_dir() -> Path:
    """``var/vendor`` of the source checkout, or of the working directory when gridmap is pip-installed."""
    base = ROOT if (ROOT / "pyproject.toml").is_file() else Path.cwd()
    return base / "var" / "vendor"


class MapSettings(BaseSettings):
    """How the maps look and where their assets come from."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_MAP_", env_file=".env", extra="ignore")

    basemap: Basemap = Field(
        "osm",
        description="底图：osm | tianditu（需密钥）| amap（高德，GCJ-02，叠加层随之偏移）| none（离线无底图） "
        "(basemap: OpenStreetMap, Tianditu with a key, Amap/Gaode in GCJ-02, or none)",
    )
    tianditu_key: str = Field("", description="天地图密钥 (Tianditu tk key)")
    osm_tile_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="OSM 瓦片地址，可指向内网瓦片服务 (OSM tile URL; point it at an intranet tile server)",
    )
    vendor_dir: Path = Field(
        default_factory=lambda: _default_vendor_dir(), description="离线 JS/CSS 安装目录 (where assets install)"
    )
    dispatch_poll_s: float = Field(
        10.0, ge=2, le=600, description="调度工作台队列的刷新间隔（秒）(how often the workbench's queue updates, s)"
    )
    tile_threshold: int = Field(
        3000, description="要素多于此数的图层改用矢量瓦片 (layers with more features are served as vector tiles)"
    )
