"""``gridmap serve``: run the API under uvicorn, in one process or several on one port."""

from __future__ import annotations


def register(sub) -> None:
    """Add ``serve``."""
    p = sub.add_parser(
        "serve",
        help="启动 API 服务 (run the API service)",
        description="Runs the API under uvicorn. With --workers N, N processes share one port; they keep no "
        "state of their own (tokens are signed, caches are checked against the database), so N processes — or "
        "N machines behind a load balancer on one database — answer as one service. Reads of maps, layers, "
        "OGC and locate go to GRIDMAP_DATABASE_READ_URL when it is set (a streaming replica).",
    )
    p.add_argument("--host", default="127.0.0.1", help="监听地址 (bind address, default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="端口 (port, default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="进程数 (worker processes on the one port; about one per core, default 1)")
    p.add_argument("--timeout-keep-alive", type=int, default=5, metavar="S",
                   help="空闲连接保持秒数 (seconds an idle keep-alive connection stays open, default 5; behind a "
                   "load balancer make it longer than the balancer's idle timeout)")
    p.add_argument("--reload", action="store_true", help="代码变化时重启 (reload on code change; one worker)")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    import sys

    import uvicorn

    if args.workers < 1:
        print("--workers 至少为 1 (--workers must be at least 1)", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(f"API 文档 (API docs):   {base}/docs")
    print(f"健康检查 (health):     {base}/healthz")
    print(f"图层 (layers):         {base}/api/v1/layers")
    print(f"地图 (maps):           {base}/maps/public  {base}/maps/grids  {base}/maps/incidents")
    print(f"进程 (workers):        {args.workers}", flush=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        timeout_keep_alive=args.timeout_keep_alive,
        log_level="info",
        proxy_headers=False,  # X-Forwarded-* are believed only from GRIDMAP_TRUSTED_PROXIES (api/proxies.py)
    )
    return 0
