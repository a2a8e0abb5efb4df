"""``gridmap locate FILE --out FILE`` (bulk point → grid) and ``gridmap reassign`` (after a new generation)."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from gis.errors import GridmapError
from scripts.progress import Progress

# points located and written at a time: each part is written by a second thread while the next is located
CHUNK = 125_000
# on a Dask cluster each part scatters the locator to every worker: parts as large as before the threads came
DASK_CHUNK = 1_000_000


def register(sub) -> None:
    """Add ``locate`` and ``reassign``."""
    p = sub.add_parser(
        "locate",
        help="批量定位：把文件中的点分配到网格 (assign the points of a file to grids)",
        description="Reads points from CSV (lon,lat[,crs]), GeoJSON or GeoParquet, assigns each with the same rules "
        "as GET /api/v1/locate, and writes the answers (input columns kept) as CSV, GeoJSON or GeoParquet.",
    )
    p.add_argument("file", type=Path, help="输入文件 .csv/.geojson/.parquet (input file)")
    p.add_argument("--out", type=Path, required=True, help="输出文件，格式由扩展名决定 (output file; format by extension)")
    p.add_argument("--crs", default="wgs84", help="坐标系 wgs84|cgcs2000|gcj02|bd09，默认 wgs84；CSV 的 crs 列优先 "
                   "(coordinate system; a crs column wins)")
    p.add_argument("--plan", type=int, help="网格方案编号，默认现行方案 (plan id; default: the plan in force)")
    p.add_argument("--strict", action="store_true",
                   help="有无效坐标即失败；默认标记为 invalid 并继续 (fail on any invalid point instead of flagging it)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="在 Dask 集群上计算：调度器地址，或 local 启动本机集群 (run on a Dask cluster: a scheduler "
                   "address such as tcp://host:8786, or local); answers are identical to the default path")
    p.set_defaults(func=_locate)

    r = sub.add_parser(
        "reassign",
        help="新一代网格方案发布后，重新分配未结案事件 (re-assign open incidents to the plan in force)",
        description="Re-assigns open incidents (every state but closed) to the grids of the plan in force (or --plan), "
        "records an event for each move and prints a table of moves from → to.",
    )
    r.add_argument("--plan", type=int, help="网格方案编号，默认现行方案 (plan id; default: the plan in force)")
    r.add_argument("--history", action="store_true", help="也重新分配已结案事件 (closed incidents too)")
    r.add_argument("--dry-run", action="store_true", help="只报告，不写入 (report only, write nothing)")
    r.set_defaults(func=_reassign)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    engine = make_engine(DatabaseSettings())
    return engine, make_sessionmaker(engine)


def _locate(args) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from layers import locate_io  # (NumPy and Arrow only: the file's reading starts as soon as they are in)

    try:
        fmt_in = locate_io.format_of(args.file.name)
        fmt_out = locate_io.format_of(args.out.name)
        if not args.file.exists():
            print(f"找不到文件 {args.file} (no such file)", file=sys.stderr)
            return 2
        # the file is read in a second thread while the database modules are imported and the plan's locator
        # is loaded, and each part of the answers is written in it while the next is computed: Arrow reads,
        # encodes and writes without the interpreter lock, so the two threads share the machine's cores
        with ThreadPoolExecutor(1) as io_thread:
            reading = io_thread.submit(_read, locate_io, args.file, fmt_in)
            pl, counts = _assign_all(args, reading, io_thread, fmt_out)
    except GridmapError as exc:
        print(f"错误 (error): {exc.message}", file=sys.stderr)
        return 1
    print(f"方案 plan {pl.plan_id}（第 {pl.generation} 代 generation）; 写入 {args.out} (written)")
    for method, count in sorted(counts.items(), key=lambda p: -p[1]):
        print(f"  {method:<24} {count:>10}")
    return 0


def _read(locate_io, path: Path, fmt: str):
    t0 = time.perf_counter()
    table = locate_io.read_points(path, fmt)
    print(f"读入 {table.lon.size} 个点，用时 {time.perf_counter() - t0:.1f} s (read {table.lon.size} points)",
          file=sys.stderr)
    return table


def _assign_all(args, reading, io_thread, fmt_out: str):
    """The plan's locator and how many points each method took; the answers are written to ``args.out`` in
    parts of :data:`CHUNK` points (:data:`DASK_CHUNK` on Dask; with progress), each by ``io_thread`` while the
    next is located. The points are checked and converted first, so that a refused batch (``--strict``) writes
    nothing."""
    from gis.locate import use_ahead_of_time_kernels
    from layers import locate_io
    from layers.driver import connect
    from layers.locate_batch import prepare_points
    from layers.plan_locator import driver_build_plan_locator
    from layers.settings import DatabaseSettings

    if not args.dask:  # one batch, then exit: the kernels compiled ahead of time spare numba's start-up (~0.6 s)
        use_ahead_of_time_kernels()
    with ExitStack() as stack:
        with connect(DatabaseSettings()) as connection:  # (no SQLAlchemy: see layers.driver)
            pl = driver_build_plan_locator(connection, args.plan)
        assign = _dask_assign(args.dask, stack) if args.dask else None
        table = reading.result()
        points = prepare_points(table.lon, table.lat, crs=table.crs if table.crs is not None else args.crs,
                                on_invalid="raise" if args.strict else "flag")
        out = locate_io.AnswerFile(fmt_out, args.out, bbox=points.bbox(), encoders=min(4, os.cpu_count() or 1))
        counts = _write_answers(pl, table, points, out, assign, io_thread, DASK_CHUNK if args.dask else CHUNK)
    return pl, counts


def _write_answers(pl, table, points, out, assign, io_thread, chunk: int) -> Counter[str]:
    """Locate ``points`` in parts of ``chunk`` points, each part's answers (after the input's columns, ``table``)
    written to ``out`` by ``io_thread`` while the next part is located; ``out`` is committed at the end, or
    dropped on any error. How many points each method took."""
    from layers import locate_io
    from layers.locate_batch import answer_points

    counts: Counter[str] = Counter()
    writing = None
    try:
        with Progress("定位 locating", total=points.size) as bar:
            for i in range(0, points.size, chunk):
                answers = answer_points(pl, points.slice(i, i + chunk), assign=assign)
                counts.update(dict(_method_counts(answers)))
                if writing is not None:
                    writing.result()  # one part waits at most: the memory of two parts, errors in order
                writing = io_thread.submit(out.write, locate_io.result_table(table.slice(i, i + chunk), answers))
                bar.advance(answers.num_rows)
        writing.result()
        out.commit()
    except BaseException:
        if writing is not None:
            writing.exception()  # (wait for it: the part file is not removed under a write)
        out.abort()
        raise
    return counts


def _dask_assign(address: str, stack: ExitStack):
    from gis import distributed_assign

    client = stack.enter_context(distributed_assign.connect(address))
    print(f"Dask: {client.dashboard_link or address}, {len(client.scheduler_info()['workers'])} workers",
          file=sys.stderr)

    def assign(locator, lon, lat):
        return distributed_assign.assign_distributed(locator, lon, lat, client)
    return assign


def _method_counts(answers) -> list[tuple[str, int]]:
    """(method, count) of every method the answers hold (counted on the dictionary's indices)."""
    import numpy as np

    from layers import arrow_columns as ac

    column = answers.column("method").combine_chunks()
    counts = np.bincount(ac.to_numpy(column.indices), minlength=len(column.dictionary))
    return [(column.dictionary[k].as_py(), int(n)) for k, n in enumerate(counts) if n]


def _reassign(args) -> int:
    from layers.reassign import reassign

    engine, factory = _session()
    try:
        with factory() as session:
            try:
                with Progress("重新分配 reassigning") as bar:
                    report = reassign(session, plan_id=args.plan, history=args.history, dry_run=args.dry_run,
                                      progress=bar)
            except GridmapError as exc:
                print(f"错误 (error): {exc.message}", file=sys.stderr)
                return 1
            if not args.dry_run:
                session.commit()
    finally:
        engine.dispose()
    print(f"方案 plan {report['plan_id']}（第 {report['generation']} 代 generation）："
          f"检查 {report['checked']}，改变网格 {report['moved']}，仅更新方案 {report['repointed']}，"
          f"不变 {report['unchanged']} (checked, moved, re-pointed, unchanged)"
          + ("；试运行，未写入 (dry run)" if args.dry_run else ""))
    if report["moves"]:
        print(f"{'from 原网格':<20} {'to 新网格':<20} {'count 件数':>10}")
        for mv in report["moves"]:
            print(f"{mv['from'] or '-':<20} {mv['to'] or '-':<20} {mv['count']:>10}")
    return 0
