#!/usr/bin/env bash
# gridmap set-up: Python environment, a reachable PostGIS, migrations, offline map assets, ESLint, demo data.
#
#   scripts/bootstrap.sh demo   # set up, load the Jinchang demo, serve on http://127.0.0.1:8000  (make demo)
#   scripts/bootstrap.sh test   # set up, load the demo, run the whole test suite                 (make test)
#   scripts/bootstrap.sh setup  # set up only (Python env, PostGIS, migrations, offline map assets)
#   scripts/bootstrap.sh bench [ARGS]  # set up with the browser and assets, run `gridmap bench ARGS` (make bench)
#
# PostGIS is found in this order: GRIDMAP_DATABASE_URL if set; else a working URL already in .env; else
# `docker compose up -d db` where a Docker engine answers; else, on Debian/Ubuntu as root, PostgreSQL and
# postgresql-<ver>-postgis-3 installed with apt and the local cluster started; else a message of what to
# install. Every step is idempotent: running it twice is safe.
set -euo pipefail

MODE="${1:-setup}"
[ $# -gt 0 ] && shift  # what is left is passed on to `gridmap bench`
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = "0" ]; }
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  # apt_install PKG... : install Debian packages that are missing (root on Debian/Ubuntu only).
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root && have apt-get || return 1
  if [ "$APT_UPDATED" = 0 ]; then say "apt-get update"; apt-get update -qq; APT_UPDATED=1; fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- 1. Python environment
step_python() {
  local py=""
  for cand in python3.12 python3.11 python3.10 python3; do
    if have "$cand" && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      py="$cand"; break
    fi
  done
  [ -n "$py" ] || { apt_install python3 python3-venv python3-dev && py=python3; } || \
    die "需要 Python ≥ 3.10 (Python 3.10 or newer is required): install python3 and python3-venv"
  if [ ! -x "$PY" ]; then
    say "创建 Python 虚拟环境 (creating .venv with $py)"
    "$py" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$py" -m venv "$VENV"; } || \
      die "python venv failed: install python3-venv"
  fi
  local stamp="$VENV/.gridmap-installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "安装 Python 依赖 (installing Python packages; first run takes a few minutes)"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e ".[test]"
    rm -f "$VENV"/.gridmap-installed-*; touch "$stamp"
  fi
}

# ---------------------------------------------------------------- 2. PostGIS
db_works() {  # db_works URL : true if the server answers and PostGIS can be created there
  GRIDMAP_DATABASE_URL="$1" "$PY" - <<'PY' 2>/dev/null
import os, sys
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
url = make_url(os.environ["GRIDMAP_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1))
eng = create_engine(url.set(database="postgres"), connect_args={"connect_timeout": 3})
with eng.connect() as c:
    ok = c.execute(text("select count(*) from pg_available_extensions where name = 'postgis'")).scalar()
sys.exit(0 if ok else 3)
PY
}

write_env_url() {
  local url="$1"
  touch .env
  grep -v '^GRIDMAP_DATABASE_URL=' .env > .env.tmp || true
  echo "GRIDMAP_DATABASE_URL=$url" >> .env.tmp
  cat .env.tmp > .env  # in place: .env keeps its permissions (it may hold the secret key)
  rm -f .env.tmp
}

step_postgis() {
  if [ -n "${GRIDMAP_DATABASE_URL:-}" ]; then
    say "使用 GRIDMAP_DATABASE_URL 指定的数据库 (using GRIDMAP_DATABASE_URL)"
    for _ in $(seq 1 30); do db_works "$GRIDMAP_DATABASE_URL" && return 0; sleep 1; done
    die "GRIDMAP_DATABASE_URL 不可连接或没有 PostGIS (the server in GRIDMAP_DATABASE_URL does not answer or lacks PostGIS)"
  fi
  if [ -f .env ] && grep -q '^GRIDMAP_DATABASE_URL=' .env; then
    local url; url="$(grep '^GRIDMAP_DATABASE_URL=' .env | tail -1 | cut -d= -f2-)"
    if db_works "$url"; then say "使用 .env 中的数据库 (using the database in .env)"; return 0; fi
  fi
  if have docker && docker info >/dev/null 2>&1; then
    say "启动 docker compose 中的 PostGIS (starting PostGIS with docker compose)"
    docker compose up -d db
    local url="postgresql://gridmap:gridmap@127.0.0.1:${GRIDMAP_DB_PORT:-5433}/gridmap"
    for _ in $(seq 1 60); do db_works "$url" && { write_env_url "$url"; return 0; }; sleep 2; done
    die "docker compose 的 PostGIS 未就绪 (PostGIS in docker compose did not become ready)"
  fi
  if is_root && have apt-get; then
    setup_local_postgis && return 0
  fi
  die "找不到 PostGIS。请任选其一 (no PostGIS found; do one of):
    - export GRIDMAP_DATABASE_URL=postgresql://USER:PASS@HOST:5432/gridmap  (PostgreSQL ≥ 15 with PostGIS ≥ 3.3)
    - install Docker and rerun (docker compose up -d db)
    - on Debian/Ubuntu, rerun as root to install postgresql and postgresql-<ver>-postgis-3 with apt"
}

setup_local_postgis() {
  if ! have pg_lsclusters; then apt_install postgresql postgresql-contrib || return 1; fi
  local ver
  ver="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1}')"
  [ -n "$ver" ] || ver="$(ls /usr/lib/postgresql | sort -n | tail -1)"
  if ! pg_lsclusters -h | grep -q .; then
    say "创建 PostgreSQL $ver 集群 (creating cluster)"; pg_createcluster "$ver" main >/dev/null
  fi
  apt_install "postgresql-$ver-postgis-3" || return 1
  # pgRouting only serves the isochrone benchmark's comparison; its absence is not fatal.
  apt_install "postgresql-$ver-pgrouting" || say "pgRouting 未安装 (not installed): the isochrone benchmark will skip its peer"
  local cluster port
  cluster="$(pg_lsclusters -h | awk 'NR==1{print $2}')"
  port="$(pg_lsclusters -h | awk 'NR==1{print $3}')"
  if ! pg_lsclusters -h | awk 'NR==1{print $4}' | grep -q online; then
    say "启动 PostgreSQL $ver/$cluster (starting the local cluster)"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start
  fi
  local url="postgresql://postgres@127.0.0.1:$port/gridmap"
  for _ in $(seq 1 30); do
    runuser -u postgres -- psql -p "$port" -Atc 'select 1' >/dev/null 2>&1 && break; sleep 1
  done
  if db_works "$url"; then write_env_url "$url"; return 0; fi
  # Password authentication on TCP (the Debian default): create a gridmap role that can make databases.
  say "创建数据库角色 gridmap (creating role gridmap)"
  runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -q <<'SQL'
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridmap') THEN
    CREATE ROLE gridmap LOGIN SUPERUSER PASSWORD 'gridmap';
  END IF;
END$$;
SQL
  url="postgresql://gridmap:gridmap@127.0.0.1:$port/gridmap"
  db_works "$url" || return 1
  write_env_url "$url"
}

step_secret() {
  # The service signs sign-in tokens with GRIDMAP_SECRET_KEY and refuses placeholders; give a fresh clone a random
  # one in .env. Never replaces a secret that is set, in the environment or in .env.
  if [ -n "${GRIDMAP_SECRET_KEY:-}" ]; then return 0; fi
  if [ -f .env ] && grep -q '^GRIDMAP_SECRET_KEY=.' .env; then return 0; fi
  touch .env
  echo "GRIDMAP_SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env
  chmod 600 .env
  say "已在 .env 写入随机的 GRIDMAP_SECRET_KEY (wrote a random GRIDMAP_SECRET_KEY into .env; keep it secret)"
}

# ---------------------------------------------------------------- 3. browser and assets
step_browser() {
  # Debian's Chromium for the map tests and CJK fonts so Chinese labels render; nothing to do elsewhere.
  if ! have chromium && ! have chromium-browser; then
    apt_install chromium || say "Chromium 未安装，浏览器测试将失败 (install chromium for the browser tests)"
  fi
  apt_install fonts-noto-cjk || true
}

step_assets() {
  if ! have npm; then apt_install npm || true; fi
  if "$PY" -m scripts.cli assets --help >/dev/null 2>&1; then
    say "安装离线地图资源 (installing offline map assets from the npm registry)"
    "$PY" -m scripts.cli assets install
  fi
}

step_dev_tools() {
  # ESLint for the pages' ES modules (package.json, pinned by package-lock.json) into ./node_modules; `make test`
  # runs it. Reinstalled only when the lock file changed.
  if ! have npm; then apt_install npm || { say "npm 未安装，ESLint 测试将失败 (install npm)"; return 0; }; fi
  local stamp="node_modules/.gridmap-installed-$(sha256sum package-lock.json | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "安装前端检查工具 ESLint (installing ESLint from the npm registry)"
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
    touch "$stamp"
  fi
}

step_load_client() {
  # wrk loads the service and its bare FastAPI + PostGIS peer in the HTTP benchmark (scripts/bench/http_load.py)
  have wrk || apt_install wrk || say "wrk 未安装，HTTP 基准将失败 (install wrk for the HTTP benchmark)"
}

step_kernels() {
  # numba kernels are compiled on first use (~20 s on 2 cores) and cached beside the code; do it here, once,
  # rather than in the first request or benchmark (a no-op of <1 s when the cache is current).
  say "预编译 numba 内核 (compiling the numba kernels)"
  "$PY" -m gis.jit_warmup
}

# ---------------------------------------------------------------- main
step_python
step_kernels
step_postgis
step_secret
if [ "$MODE" != bench ]; then  # the benchmarks build their own databases (from a kept migrated schema)
  say "数据库迁移 (running migrations)"
  "$PY" -m scripts.cli db upgrade
fi
case "$MODE" in
  setup)  # like demo without the demo: every page answers once data is loaded (the maps' JS/CSS included)
    step_dev_tools
    step_assets
    ;;
  bench)  # the maps benchmark opens its pages in Chromium with the offline assets; no demo needed
    step_browser
    step_assets
    step_load_client
    ;;
  demo|test)
    [ "$MODE" = test ] && step_browser && step_dev_tools
    step_assets
    say "加载金昌演示数据 (loading the Jinchang demo)"
    "$PY" -m scripts.cli demo load
    ;;
  *) die "unknown mode $MODE (use demo | test | setup | bench)";;
esac

case "$MODE" in
  demo)
    say "启动服务 (starting the service)"
    exec "$PY" -m scripts.cli serve --host "${GRIDMAP_HOST:-127.0.0.1}" --port "${GRIDMAP_PORT:-8000}"
    ;;
  test)
    say "运行全部测试 (running the whole test suite)"
    # shellcheck disable=SC2086  # PYTEST_ARGS is split into words on purpose
    exec "$PY" -m pytest ${PYTEST_ARGS:-}
    ;;
  bench)
    say "运行基准测试 (running the benchmarks)"
    exec "$PY" -m scripts.cli bench "$@"
    ;;
esac
