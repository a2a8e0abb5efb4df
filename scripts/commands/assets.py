"""``gridmap assets``: install the maps' JavaScript/CSS from the npm registry into var/vendor (offline pages)."""

from __future__ import annotations

import json
import shutil
import subprocess


def register(sub) -> None:
    """Add ``assets install|check``."""
    p = sub.add_parser("assets", help="地图离线资源 JS/CSS (offline map assets from npm)")
    asub = p.add_subparsers(dest="assets_command", metavar="ACTION")
    inst = asub.add_parser(
        "install",
        help="用 npm 安装 maps/package.json 中固定版本的资源到 var/vendor (npm install the pinned assets)",
    )
    inst.add_argument("--force", action="store_true", help="已安装也重新安装 (reinstall even if present)")
    inst.set_defaults(func=_install)
    chk = asub.add_parser("check", help="检查资源是否齐全 (check every asset is installed)")
    chk.set_defaults(func=_check)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _install(args) -> int:
    from maps import assets
    from maps.settings import MapSettings

    vendor = MapSettings().vendor_dir
    if not args.force and not assets.missing(vendor) and _same_versions(vendor):
        print(f"地图资源已安装 (map assets already installed) in {vendor}")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("未找到 npm，请先安装 Node.js/npm (npm not found; install Node.js and npm)")
        return 1
    vendor.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(assets.PACKAGE_JSON, vendor / "package.json")
    cmd = [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--ignore-scripts", "--save-exact"]
    print("$ " + " ".join(cmd) + f"  (in {vendor})")
    done = subprocess.run(cmd, cwd=vendor, check=False)
    if done.returncode != 0:
        return done.returncode
    gone = assets.missing(vendor)
    if gone:
        print("安装后仍缺少 (still missing after install): " + ", ".join(gone))
        return 1
    print(f"地图资源已安装 (map assets installed): {len(assets.pinned())} packages in {vendor}")
    return 0


def _same_versions(vendor) -> bool:
    from maps import assets

    nm = assets.node_modules(vendor)
    for name, version in assets.pinned().items():
        meta = nm / name / "package.json"
        if not meta.is_file() or json.loads(meta.read_text()).get("version") != version:
            return False
    return True


def _check(args) -> int:
    from maps import assets
    from maps.settings import MapSettings

    vendor = MapSettings().vendor_dir
    gone = assets.missing(vendor)
    if gone or not _same_versions(vendor):
        print("缺少或版本不符 (missing or wrong version): " + ", ".join(gone or ["versions"]))
        return 1
    print(f"全部资源已安装 (all assets installed) in {vendor}")
    return 0
