"""Compiled (numba) kernels of the point → grid locator; :mod:`gis.locate` is the interface.

The plane is cut into a uniform raster of cells. Every polygon edge is listed in each cell its *thickened*
segment touches (thickened by the boundary tolerance), so a cell with no edges lies wholly inside the same set
of polygons: a point there is answered by array indexing. For every cell we store the set of polygons covering
a reference point (its centre, nudged off any edge); a point in a cell that has edges starts from that set and
toggles the polygon of every edge crossed by the segment reference point → point (even-odd rule), then adds
every polygon whose boundary lies within the tolerance (so a point on a border is covered by both sides).
Reference sets are themselves computed by sweeping each raster row from a point left of every polygon.

Each cell's edges are stored *in cell order*: the coordinates and owner of the edge at list position ``q`` are
``ex0[q]``, ``ey0[q]``, ``ex1[q]``, ``ey1[q]``, ``egrid[q]`` (an edge touching several cells is copied into each),
so a query reads one contiguous run of memory per point; ``cell_edges[q]`` keeps the edge's own number, used only
to walk two cells' lists without counting a shared edge twice. A query point's edges are read once: each edge
crossed by the segment reference point → point flips its polygon's parity, each edge within the tolerance marks
its polygon near; covered = odd parity or near.

Degenerate crossings use a half-open rule (a value of exactly zero counts as positive) so that a segment
through a vertex counts the two edges meeting there consistently.

Coordinates are planar lon/lat degrees, exactly like PostGIS and shapely (so answers agree with them away
from borders); distances are metres on the WGS84 ellipsoid's local scale at the point's latitude (error well
under 0.1 % for the short distances compared here: the tolerance and street buffers).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_A = 6378137.0
_E2 = 0.00669437999014
_DEG = math.pi / 180.0
MAXSET = 32  # most polygons that may cover one point (overlaps beyond this are ignored)


@njit(cache=True)
def maxset():
    """:data:`MAXSET`, for callers of a module compiled ahead of time (:mod:`gis.locate_aot`)."""
    return MAXSET


@njit(cache=True, inline="always")
def metres_per_degree(lat):
    """(metres per degree of longitude, per degree of latitude) at latitude ``lat`` on WGS84."""
    s = math.sin(lat * _DEG)
    w = math.sqrt(1.0 - _E2 * s * s)
    n = _A / w
    m = _A * (1.0 - _E2) / (w * w * w)
    return n * math.cos(lat * _DEG) * _DEG, m * _DEG


@njit(cache=True, inline="always")
def _seg_dist(px, py, x0, y0, x1, y1, kx, ky):
    ax = (x0 - px) * kx
    ay = (y0 - py) * ky
    bx = (x1 - px) * kx
    by = (y1 - py) * ky
    dx = bx - ax
    dy = by - ay
    ll = dx * dx + dy * dy
    t = 0.0
    if ll > 0.0:
        t = -(ax * dx + ay * dy) / ll
        if t < 0.0:
            t = 0.0
        elif t > 1.0:
            t = 1.0
    cx = ax + t * dx
    cy = ay + t * dy
    return math.sqrt(cx * cx + cy * cy)


@njit(cache=True, inline="always")
def _crosses(cx, cy, px, py, x0, y0, x1, y1):
    """Does edge (x0,y0)-(x1,y1) cross segment C→P? Half-open: an orientation of exactly 0 counts as > 0."""
    o0 = (px - cx) * (y0 - cy) - (py - cy) * (x0 - cx)
    o1 = (px - cx) * (y1 - cy) - (py - cy) * (x1 - cx)
    if (o0 >= 0.0) == (o1 >= 0.0):
        return False
    oc = (x1 - x0) * (cy - y0) - (y1 - y0) * (cx - x0)
    op = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
    return (oc >= 0.0) != (op >= 0.0)


@njit(cache=True, parallel=True)
def bucket(x0, y0, x1, y1, padx, pady, ox, oy, cw, ch, nx, ny, parts, counts, out, fill):
    """Count (``fill`` False: ``counts[cell + 1]``) or list (True: at ``counts[cell]``, which advances) every
    edge in the cells its thickened segment touches; each list in ascending edge number.

    ``parts`` threads take a band of raster rows each and walk every edge's part in their band: a cell belongs to
    one thread, so no two write the same counter. Per row an edge spans, the cells from the left to the right end
    of its part in the row (each end widened by ``padx``, the row by ``pady``). Multiplications by reciprocals
    instead of divisions may move an end by a unit in the last place; the padding is 1 % wider than the
    tolerance, which is many orders of magnitude more, so no cell the thickened segment touches is missed."""
    icw = 1.0 / cw
    ne = x0.shape[0]
    band = (ny + parts - 1) // parts
    for t in prange(parts):
        first = t * band
        last = min(ny, first + band) - 1
        for e in range(ne):
            ax, ay, bx, by = x0[e], y0[e], x1[e], y1[e]
            sy0 = min(ay, by)
            sy1 = max(ay, by)
            px = padx[e]
            py = pady[e]
            r0 = max(int(math.floor((sy0 - py - oy) / ch)), first)
            r1 = min(int(math.floor((sy1 + py - oy) / ch)), last)
            if r1 < r0:
                continue
            slope = (bx - ax) / (by - ay) if by != ay else 0.0
            for r in range(r0, r1 + 1):
                if by == ay:
                    xa = min(ax, bx)
                    xb = max(ax, bx)
                else:
                    ya = min(max(oy + r * ch - py, sy0), sy1)
                    yb = min(max(oy + (r + 1) * ch + py, sy0), sy1)
                    xa = ax + (ya - ay) * slope
                    xb = ax + (yb - ay) * slope
                c0 = max(int(math.floor((min(xa, xb) - px - ox) * icw)), 0)
                c1 = min(int(math.floor((max(xa, xb) + px - ox) * icw)), nx - 1)
                base = r * nx
                if fill:
                    for c in range(c0, c1 + 1):
                        cell = base + c
                        out[counts[cell]] = e
                        counts[cell] += 1
                else:
                    for c in range(c0, c1 + 1):
                        counts[base + c + 1] += 1


@njit(cache=True, parallel=True)
def in_cell_order(cell_edges, x0, y0, x1, y1, owner):
    """The coordinates and owner of every listed edge, in list order (see :func:`bucket`)."""
    n = cell_edges.shape[0]
    ex0 = np.empty(n)
    ey0 = np.empty(n)
    ex1 = np.empty(n)
    ey1 = np.empty(n)
    eown = np.empty(n, np.int32)
    for q in prange(n):
        e = cell_edges[q]
        ex0[q] = x0[e]
        ey0[q] = y0[e]
        ex1[q] = x1[e]
        ey1[q] = y1[e]
        eown[q] = owner[e]
    return ex0, ey0, ex1, ey1, eown


@njit(cache=True, inline="always")
def _u32(buf, o):
    """The little-endian unsigned 32-bit integer at byte ``o`` of ``buf``."""
    return np.int64(buf[o]) | (np.int64(buf[o + 1]) << 8) | (np.int64(buf[o + 2]) << 16) | (np.int64(buf[o + 3]) << 24)


@njit(cache=True)
def wkb_rings(buf, geom_start, ring_len, ring_geom):
    """The rings of polygons and multipolygons in 2D little-endian WKB (geometry ``g`` from byte
    ``geom_start[g]``): each ring's number of coordinates into ``ring_len`` and its geometry into ``ring_geom``
    (both at least as long as the number of rings; call with empty ones to count). Returns the number of rings,
    or -1 when a geometry is not a 2D little-endian (multi)polygon."""
    k = 0
    for g in range(geom_start.shape[0] - 1):
        o = geom_start[g]
        if buf[o] != 1:
            return -1
        gtype = _u32(buf, o + 1)
        o += 5
        nparts = 1
        if gtype == 6:
            nparts = _u32(buf, o)
            o += 4
        elif gtype != 3:
            return -1
        for _ in range(nparts):
            if gtype == 6:
                if buf[o] != 1 or _u32(buf, o + 1) != 3:
                    return -1
                o += 5
            nrings = _u32(buf, o)
            o += 4
            for _ in range(nrings):
                npts = _u32(buf, o)
                o += 4 + 16 * npts
                if k < ring_len.shape[0]:
                    ring_len[k] = npts
                    ring_geom[k] = g
                k += 1
        if o != geom_start[g + 1]:
            return -1
    return k


@njit(cache=True)
def ring_edges(xy, ring_start, ring_owner):
    """Edges (x0, y0, x1, y1, owner) between consecutive coordinates of each ring (ring ``k``: coordinates
    rows ``ring_start[k]`` to ``ring_start[k + 1]`` of ``xy``), zero-length ones dropped, in ring order."""
    nring = ring_owner.shape[0]
    count = np.zeros(nring + 1, np.int64)
    for k in range(nring):
        n = 0
        for i in range(ring_start[k], ring_start[k + 1] - 1):
            if xy[i, 0] != xy[i + 1, 0] or xy[i, 1] != xy[i + 1, 1]:
                n += 1
        count[k + 1] = n
    for k in range(nring):
        count[k + 1] += count[k]
    ne = count[nring]
    x0 = np.empty(ne)
    y0 = np.empty(ne)
    x1 = np.empty(ne)
    y1 = np.empty(ne)
    own = np.empty(ne, np.int32)
    for k in range(nring):
        e = count[k]
        for i in range(ring_start[k], ring_start[k + 1] - 1):
            if xy[i, 0] != xy[i + 1, 0] or xy[i, 1] != xy[i + 1, 1]:
                x0[e] = xy[i, 0]
                y0[e] = xy[i, 1]
                x1[e] = xy[i + 1, 0]
                y1[e] = xy[i + 1, 1]
                own[e] = ring_owner[k]
                e += 1
    return x0, y0, x1, y1, own


@njit(cache=True, inline="always")
def _toggle(buf, n, g):
    for i in range(n):
        if buf[i] == g:
            buf[i] = buf[n - 1]
            return n - 1
    if n < buf.shape[0]:
        buf[n] = g
        return n + 1
    return n


@njit(cache=True, inline="always")
def _walk(buf, n, cx, cy, px, py, s0, e0, s1, e1, cell_edges, ex0, ey0, ex1, ey1, egrid):
    """Toggle ``buf`` for edges of two cells' lists (positions ``s0:e0`` and ``s1:e1``, each in ascending edge
    number; an edge in both is taken once) crossing C→P."""
    i = s0
    j = s1
    while i < e0 or j < e1:
        if j >= e1 or (i < e0 and cell_edges[i] < cell_edges[j]):
            q = i
            i += 1
        elif i >= e0 or cell_edges[j] < cell_edges[i]:
            q = j
            j += 1
        else:
            q = i
            i += 1
            j += 1
        if _crosses(cx, cy, px, py, ex0[q], ey0[q], ex1[q], ey1[q]):
            n = _toggle(buf, n, egrid[q])
    return n


@njit(cache=True, inline="always")
def _ref_point(r, c, cell, ox, oy, cw, ch, start, ex0, ey0, ex1, ey1):
    """Cell ``cell`` (row ``r``, column ``c``)'s reference point: its centre, or a point nearby that lies on none
    of its edges (none closer than 1e-9 of the cell's size, no division per edge)."""
    near = 1e-9 * (cw + ch)
    for k in range(16):
        # centre, then points off it along an irrational direction until none lies on an edge
        fx = 0.5 + 0.0372 * k * 1.6180339887
        fx = fx - math.floor(fx)
        fy = 0.5 + 0.0291 * k * 2.2360679775
        fy = fy - math.floor(fy)
        rx = ox + (c + 0.05 + 0.9 * fx) * cw
        ry = oy + (r + 0.05 + 0.9 * fy) * ch
        ok = True
        for q in range(start[cell], start[cell + 1]):
            dx = ex1[q] - ex0[q]
            dy = ey1[q] - ey0[q]
            o = dx * (ry - ey0[q]) - dy * (rx - ex0[q])
            if abs(o) < near * (abs(dx) + abs(dy) + 1e-300):
                ok = False
                break
        if ok:
            break
    return rx, ry


@njit(cache=True, parallel=True)
def build_reference_sets(nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1, egrid, rows, counts_only,
                         ref_start, ref_ids, refx, refy, first):
    """Sweep each raster row of ``rows`` left → right, finding the set of polygons covering each cell's
    reference point. ``counts_only``: store the reference point, the set's size (in ``ref_start[cell + 1]``)
    and its first polygon (``first``, -1 for none); else write the sets into ``ref_ids`` from ``ref_start``."""
    for k in prange(rows.shape[0]):
        r = rows[k]
        buf = np.empty(MAXSET, np.int32)
        n = 0
        cx = ox - cw
        cy = oy + (r + 0.5) * ch
        prev = -1
        for c in range(nx):
            cell = r * nx + c
            rx, ry = _ref_point(r, c, cell, ox, oy, cw, ch, start, ex0, ey0, ex1, ey1)
            if prev < 0:
                n = _walk(buf, n, cx, cy, rx, ry, start[cell], start[cell + 1], 0, 0, cell_edges,
                          ex0, ey0, ex1, ey1, egrid)
            else:
                n = _walk(buf, n, cx, cy, rx, ry, start[prev], start[prev + 1], start[cell], start[cell + 1],
                          cell_edges, ex0, ey0, ex1, ey1, egrid)
            if counts_only:
                ref_start[cell + 1] = n
                refx[cell] = rx
                refy[cell] = ry
                first[cell] = buf[0] if n > 0 else -1
            else:
                o = ref_start[cell]
                for i in range(n):
                    ref_ids[o + i] = buf[i]
            cx = rx
            cy = ry
            prev = cell


@njit(cache=True, inline="always")
def _within(px, py, x0, y0, x1, y1, kx, ky, tx, ty, tol2):
    """Is edge (x0,y0)-(x1,y1) within the tolerance of P? A box test in degrees (``tx``, ``ty``) first, then the
    squared metric distance against ``tol2`` (no square root)."""
    if px < min(x0, x1) - tx or px > max(x0, x1) + tx or py < min(y0, y1) - ty or py > max(y0, y1) + ty:
        return False
    ax = (x0 - px) * kx
    ay = (y0 - py) * ky
    dx = (x1 - px) * kx - ax
    dy = (y1 - py) * ky - ay
    ll = dx * dx + dy * dy
    t = 0.0
    if ll > 0.0:
        t = -(ax * dx + ay * dy) / ll
        if t < 0.0:
            t = 0.0
        elif t > 1.0:
            t = 1.0
    qx = ax + t * dx
    qy = ay + t * dy
    return qx * qx + qy * qy <= tol2


@njit(cache=True, inline="always")
def _note_edge(buf, near, n, g, flip, close):
    """Record that an edge of polygon ``g`` flips the parity and/or lies close; returns the new count (a full
    buffer ignores new polygons)."""
    i = 0
    while i < n and buf[i] != g:
        i += 1
    if i == n:
        if n == buf.shape[0]:
            return n
        buf[n] = g
        near[n] = 0
        n += 1
    if flip:
        near[i] ^= 1
    if close:
        near[i] |= 2
    return n


@njit(cache=True, inline="always")
def _keep_marked(buf, near, n):
    """Drop the polygons with neither bit set; ``near`` becomes 1 where the boundary is close. Returns (count,
    number of near polygons)."""
    m = 0
    nnear = 0
    for i in range(n):
        state = near[i]
        if state != 0:
            buf[m] = buf[i]
            if state & 2:
                near[m] = 1
                nnear += 1
            else:
                near[m] = 0
            m += 1
    return m, nnear


@njit(cache=True, inline="always")
def cover_set(px, py, tol_m, nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1, egrid,
              ref_start, ref_ids, refx, refy, kxr, kyr, buf, near):
    """The polygons covering (px, py) into ``buf`` (count returned) and, in ``near``, 1 where a polygon's
    boundary is within ``tol_m`` metres. Returns (n, number of near polygons).

    One pass over the cell's edges: ``near[i]`` holds bit 0 = parity (inside by the even-odd rule, starting from
    the reference set: the polygons covering the cell's reference point) and bit 1 = some edge of polygon
    ``buf[i]`` lies within the tolerance; polygons with neither are dropped at the end."""
    c = int(math.floor((px - ox) / cw))
    r = int(math.floor((py - oy) / ch))
    if c < 0 or r < 0 or c >= nx or r >= ny or not (px == px and py == py):
        return 0, 0
    cell = r * nx + c
    n = 0
    for q in range(ref_start[cell], ref_start[cell + 1]):
        buf[n] = ref_ids[q]
        near[n] = 1
        n += 1
    if start[cell] == start[cell + 1]:
        for i in range(n):
            near[i] = 0
        return n, 0
    kx = kxr[r]
    ky = kyr[r]
    tx = tol_m / kx
    ty = tol_m / ky
    tol2 = tol_m * tol_m
    for q in range(start[cell], start[cell + 1]):
        flip = _crosses(refx[cell], refy[cell], px, py, ex0[q], ey0[q], ex1[q], ey1[q])
        close = _within(px, py, ex0[q], ey0[q], ex1[q], ey1[q], kx, ky, tx, ty, tol2)
        if flip or close:
            n = _note_edge(buf, near, n, egrid[q], flip, close)
    return _keep_marked(buf, near, n)


@njit(cache=True, parallel=True)
def assign_polygons(perm, px, py, tol_m, nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1, egrid,
                    ref_start, ref_ids, refx, refy, kxr, kyr, cell_best, rank, kind, out_best, out_ntied, out_border):
    """For every point (``px[j]``, ``py[j]``, answered in row ``perm[j]`` of the outputs; see
    :func:`band_order`): the covering polygon of lowest ``rank``, how many polygons of its ``kind`` cover the
    point (a tie when > 1), and whether the chosen one's boundary is within the tolerance."""
    npts = px.shape[0]
    chunk = 8192
    nchunk = (npts + chunk - 1) // chunk
    for k in prange(nchunk):
        buf = np.empty(MAXSET, np.int32)
        near = np.zeros(MAXSET, np.int8)
        for j in range(k * chunk, min(npts, (k + 1) * chunk)):
            i = perm[j]
            x = px[j]
            y = py[j]
            c = int(math.floor((x - ox) / cw))
            r = int(math.floor((y - oy) / ch))
            if c < 0 or r < 0 or c >= nx or r >= ny or not (x == x and y == y):
                out_best[i] = -1
                out_ntied[i] = 0
                out_border[i] = False
                continue
            cell = r * nx + c
            if start[cell] == start[cell + 1]:
                b = cell_best[cell]
                out_best[i] = b
                out_border[i] = False
                if b < 0:
                    out_ntied[i] = 0
                elif ref_start[cell + 1] - ref_start[cell] == 1:
                    out_ntied[i] = 1
                else:
                    t = 0
                    for q in range(ref_start[cell], ref_start[cell + 1]):
                        if kind[ref_ids[q]] == kind[b]:
                            t += 1
                    out_ntied[i] = t
                continue
            n, _ = cover_set(x, y, tol_m, nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1,
                             egrid, ref_start, ref_ids, refx, refy, kxr, kyr, buf, near)
            best = -1
            bi = -1
            for j in range(n):
                g = buf[j]
                if best < 0 or rank[g] < rank[best]:
                    best = g
                    bi = j
            out_best[i] = best
            if best < 0:
                out_ntied[i] = 0
                out_border[i] = False
                continue
            t = 0
            for j in range(n):
                if kind[buf[j]] == kind[best]:
                    t += 1
            out_ntied[i] = t
            out_border[i] = near[bi] == 1


@njit(cache=True)
def _row_bands(ny, rows, first):
    """The band of each raster row (``r // rows + first``), read from this table by the point loops instead of
    dividing (a 64-bit integer division costs ~40 cycles; it took 2/3 of :func:`answer_direct`'s first pass)."""
    out = np.empty(ny, np.int32)
    for r in range(ny):
        out[r] = r // rows + first
    return out


@njit(cache=True)
def _band_places(count):
    """Where each part's points of each band go (a prefix sum over bands, then parts), and how many there are:
    from ``count[part, band]``, the number of points of each part in each band."""
    parts, nb = count.shape
    place = np.empty((parts, nb), np.int64)
    at = 0
    for b in range(nb):
        for t in range(parts):
            place[t, b] = at
            at += count[t, b]
    return place, at


@njit(cache=True, parallel=True)
def band_order(px, py, oy, ch, ny, rows):
    """The points sorted into bands of ``rows`` raster rows (south to north, input order kept within a band;
    points off the raster or not numbers first): (``perm``, x, y) with ``x[j] = px[perm[j]]``.

    A counting sort over 8 parts of the input at once (count per part and band, then place). Queried in this
    order, consecutive points touch the same few thousand cells, whose edges and reference sets stay in the CPU
    cache; in input order every point costs a few cache misses (random points over a 250,000-cell raster: the
    query took 3× as long)."""
    n = py.shape[0]
    nb = (ny + rows - 1) // rows + 1
    row_band = _row_bands(ny, rows, 1)
    parts = 8
    size = (n + parts - 1) // parts
    band = np.empty(n, np.int32)
    count = np.zeros((parts, nb), np.int64)
    for t in prange(parts):
        for i in range(t * size, min(n, (t + 1) * size)):
            b = 0
            y = py[i]
            if y == y and px[i] == px[i]:
                r = math.floor((y - oy) / ch)
                if r >= 0 and r < ny:
                    b = row_band[int(r)]
            band[i] = b
            count[t, b] += 1
    place, at = _band_places(count)
    perm = np.empty(n, np.int64)
    xs = np.empty(n)
    ys = np.empty(n)
    for t in prange(parts):
        for i in range(t * size, min(n, (t + 1) * size)):
            b = band[i]
            j = place[t, b]
            perm[j] = i
            xs[j] = px[i]
            ys[j] = py[i]
            place[t, b] = j + 1
    return perm, xs, ys


@njit(cache=True)
def row_scales(oy, ch, ny):
    """Metres per degree (lon, lat) at the middle latitude of each raster row (the scale varies < 1e-4 across
    a row of cells a few hundred metres high)."""
    kx = np.empty(ny)
    ky = np.empty(ny)
    for r in range(ny):
        kx[r], ky[r] = metres_per_degree(oy + (r + 0.5) * ch)
    return kx, ky


@njit(cache=True)
def cell_best_of(ref_start, ref_ids, rank):
    """The lowest-rank polygon of each cell's reference set (-1 for none)."""
    ncell = ref_start.shape[0] - 1
    out = np.full(ncell, -1, np.int32)
    for cell in range(ncell):
        for q in range(ref_start[cell], ref_start[cell + 1]):
            g = ref_ids[q]
            if out[cell] < 0 or rank[g] < rank[out[cell]]:
                out[cell] = g
    return out


@njit(cache=True, inline="always")
def _nearest_line_at(x, y, nx, ny, ox, oy, cw, ch, start, ex0, ey0, ex1, ey1, eline, ebuf):
    """(line, distance in metres) of the nearest edge within its buffer of one point; (-1, NaN) for none."""
    best = -1
    best_d = np.nan
    c = int(math.floor((x - ox) / cw)) if x == x else -1
    r = int(math.floor((y - oy) / ch)) if y == y else -1
    if c < 0 or r < 0 or c >= nx or r >= ny:
        return best, best_d
    cell = r * nx + c
    if start[cell] == start[cell + 1]:
        return best, best_d
    kx, ky = metres_per_degree(y)
    for q in range(start[cell], start[cell + 1]):
        d = _seg_dist(x, y, ex0[q], ey0[q], ex1[q], ey1[q], kx, ky)
        if d <= ebuf[q]:
            ln = eline[q]
            if best < 0 or d < best_d or (d == best_d and ln < best):
                best = ln
                best_d = d
    return best, best_d


@njit(cache=True, parallel=True)
def nearest_line(perm, px, py, nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1, eline, ebuf,
                 out_line, out_dist):
    """For every point (``px[j]``, ``py[j]``, answered in row ``perm[j]``; see :func:`band_order`): the line
    (lowest index on ties) of the nearest edge within that edge's buffer (``ebuf``, like the coordinates and
    ``eline``, in cell order)."""
    npts = px.shape[0]
    for j in prange(npts):
        i = perm[j]
        out_line[i], out_dist[i] = _nearest_line_at(px[j], py[j], nx, ny, ox, oy, cw, ch, start, ex0, ey0, ex1,
                                                    ey1, eline, ebuf)


@njit(cache=True)
def nearest_line_one(x, y, nx, ny, ox, oy, cw, ch, start, cell_edges, ex0, ey0, ex1, ey1, eline, ebuf):
    """:func:`nearest_line` for one point, on the calling thread (no parallel region to wake: a request of the
    API locates one point while its other threads serve others)."""
    return _nearest_line_at(x, y, nx, ny, ox, oy, cw, ch, start, ex0, ey0, ex1, ey1, eline, ebuf)


@njit(cache=True)
def direct_of(start, ref_start, cell_best):
    """Per cell, the answer a point there gets without any test: the lowest-rank polygon covering the cell (-1
    for none) when no edge touches the cell and at most one polygon covers it; -2 when a point there needs the
    exact test (edges in the cell, or overlapping polygons whose tie is counted by :func:`assign_polygons`)."""
    ncell = cell_best.shape[0]
    out = np.empty(ncell, np.int32)
    for cell in range(ncell):
        if start[cell] == start[cell + 1] and ref_start[cell + 1] - ref_start[cell] <= 1:
            out[cell] = cell_best[cell]
        else:
            out[cell] = -2
    return out


@njit(cache=True, parallel=True)
def answer_direct(px, py, ox, oy, cw, ch, nx, ny, rows, direct, out_best, out_ntied, out_border):
    """Answer every point whose cell needs no test (see :func:`direct_of`; points off the raster or not numbers:
    -1) in input order, and return the rest like :func:`band_order` does — (``perm``, x, y) in bands of ``rows``
    raster rows — for :func:`assign_polygons`, which overwrites their answers. The answers are those
    :func:`assign_polygons` gives (it reads the same cell sets), but a point answered here costs one read of a
    small table and no sort. The first pass has no branch on the kind of cell (see below); the points answered
    here are counted in band ``nb``, after the bands of the rows."""
    n = py.shape[0]
    nb = (ny + rows - 1) // rows
    row_band = _row_bands(ny, rows, 0)
    parts = 8
    size = (n + parts - 1) // parts
    band = np.empty(n, np.int32)
    count = np.zeros((parts, nb + 1), np.int64)
    for t in prange(parts):
        for i in range(t * size, min(n, (t + 1) * size)):
            x = px[i]
            y = py[i]
            b = nb
            d = -1
            if x == x and y == y:
                fc = math.floor((x - ox) / cw)
                fr = math.floor((y - oy) / ch)
                if fc >= 0 and fr >= 0 and fc < nx and fr < ny:
                    r = int(fr)
                    d = direct[r * nx + int(fc)]
                    # arithmetic, not a branch: d comes from a cache miss, and a mispredicted branch on it
                    # (every other point) waits for that miss before the next point's can start (3× slower)
                    b = nb + np.int32(d == -2) * (row_band[r] - nb)
            band[i] = b
            out_best[i] = d
            out_ntied[i] = 1 if d >= 0 else 0
            out_border[i] = False
        # counted in a loop of its own: an increment at an address that waits for a cache miss holds up the
        # next point's (the same counter may follow), which made this pass twice as slow
        for i in range(t * size, min(n, (t + 1) * size)):
            count[t, band[i]] += 1
    count[:, nb] = 0
    place, at = _band_places(count)
    perm = np.empty(at, np.int64)
    xs = np.empty(at)
    ys = np.empty(at)
    for t in prange(parts):
        for i in range(t * size, min(n, (t + 1) * size)):
            b = band[i]
            if b < nb:
                j = place[t, b]
                perm[j] = i
                xs[j] = px[i]
                ys[j] = py[i]
                place[t, b] = j + 1
    return perm, xs, ys


@njit(cache=True)
def grid_methods(grid, n_tied, border, exclusive, m_none, m_grid, m_exclusive, method, on_boundary):
    """Per point, the rule its grid answer decides (``m_none`` for no grid, ``m_exclusive`` for an exclusive
    grid, else ``m_grid``) and whether it is a reported tie on a border: one pass, no temporary arrays."""
    for i in range(grid.shape[0]):
        g = grid[i]
        if g < 0:
            method[i] = m_none
        elif exclusive[g]:
            method[i] = m_exclusive
        else:
            method[i] = m_grid
        on_boundary[i] = border[i] and n_tied[i] > 1
