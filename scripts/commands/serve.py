"""``gridmap serve``: run the API under uvicorn."""

from __future__ import annotations


def register(sub) -> None:
    """Add ``serve``."""
    p = sub.add_parser("serve", help="启动 API 服务 (run the API service)")
    p.add_argument("--host", default="127.0.0.1", help="监听地址 (bind address, default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="端口 (port, default 8000)")
    p.add_argument("--workers", type=int, default=1, help="进程数 (worker processes)")
    p.add_argument("--reload", action="store_true", help="代码变化时重启 (reload on code change)")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    import uvicorn

    base = f"http://{args.host}:{args.port}"
    print(f"API 文档 (API docs):   {base}/docs")
    print(f"健康检查 (health):     {base}/healthz")
    print(f"图层 (layers):         {base}/api/v1/layers")
    print(f"地图 (maps):           {base}/maps/public  {base}/maps/grids  {base}/maps/incidents")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        log_level="info",
    )
    return 0
