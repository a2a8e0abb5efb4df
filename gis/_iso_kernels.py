"""Compiled (numba) kernels of the service-area polygon builder; :mod:`gis.isochrones` is the interface.

``trail_cover`` joins the reached street parts into a few long trails (walks that go on through junctions,
odd-degree nodes first), so that the polygon is the union of a few dozen buffered trails instead of one
buffer per street: the same point set, a much cheaper union.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def trail_cover(lu, lv, n_nodes, offsets):  # pragma: no cover - compiled
    """Coordinate indices and trail ids covering every line once.

    ``lu``/``lv``: local node ids of each line's first/last coordinate; ``offsets``: start of each line in the
    flat coordinate array (``len(lines) + 1`` entries). Returns ``(coord_index, trail_id)``."""
    m = lu.shape[0]
    deg = np.zeros(n_nodes, np.int64)
    for i in range(m):
        deg[lu[i]] += 1
        deg[lv[i]] += 1
    indptr = np.zeros(n_nodes + 1, np.int64)
    for k in range(n_nodes):
        indptr[k + 1] = indptr[k] + deg[k]
    fill = indptr[:-1].copy()
    inc = np.empty(indptr[n_nodes], np.int64)
    for i in range(m):
        inc[fill[lu[i]]] = i
        fill[lu[i]] += 1
        inc[fill[lv[i]]] = i
        fill[lv[i]] += 1
    ptr = indptr[:-1].copy()
    used = np.zeros(m, np.bool_)
    total = offsets[m]
    out_idx = np.empty(total, np.int64)
    out_trail = np.empty(total, np.int64)
    n_out = 0
    trail = 0
    # odd-degree nodes first: trails start and end there
    order = np.empty(n_nodes, np.int64)
    k = 0
    for node in range(n_nodes):
        if deg[node] % 2 == 1:
            order[k] = node
            k += 1
    for node in range(n_nodes):
        if deg[node] % 2 == 0:
            order[k] = node
            k += 1
    for oi in range(n_nodes):
        s = order[oi]
        while True:
            cur = s
            first = True
            while True:
                e = -1
                while ptr[cur] < indptr[cur + 1]:
                    cand = inc[ptr[cur]]
                    ptr[cur] += 1
                    if not used[cand]:
                        e = cand
                        break
                if e < 0:
                    break
                used[e] = True
                a = offsets[e]
                b = offsets[e + 1]
                if lu[e] == cur:
                    start = a if first else a + 1
                    for c in range(start, b):
                        out_idx[n_out] = c
                        out_trail[n_out] = trail
                        n_out += 1
                    cur = lv[e]
                else:
                    start = b - 1 if first else b - 2
                    for c in range(start, a - 1, -1):
                        out_idx[n_out] = c
                        out_trail[n_out] = trail
                        n_out += 1
                    cur = lu[e]
                first = False
            if first:
                break
            trail += 1
    return out_idx[:n_out], out_trail[:n_out]


@njit(cache=True, nogil=True, inline="always")
def _row_span(ax, ay, bx, by, dx, dy, ll, py, rad):  # pragma: no cover - compiled
    """x-range where the row ``y = py`` meets the capsule of radius ``rad`` around segment a–b."""
    lo_x = np.inf
    hi_x = -np.inf
    ry = py - ay
    if abs(ry) <= rad:
        w = np.sqrt(rad * rad - ry * ry)
        lo_x = ax - w
        hi_x = ax + w
    ry2 = py - by
    if abs(ry2) <= rad:
        w = np.sqrt(rad * rad - ry2 * ry2)
        lo_x = min(lo_x, bx - w)
        hi_x = max(hi_x, bx + w)
    if ll > 0.0:
        if dy == 0.0:
            if abs(ry) <= rad:
                lo_x = min(lo_x, min(ax, bx))
                hi_x = max(hi_x, max(ax, bx))
        else:
            half = rad * np.sqrt(ll) / abs(dy)
            xc = ax + ry * dx / dy
            blo = xc - half
            bhi = xc + half
            if dx > 0.0:
                blo = max(blo, ax - ry * dy / dx)
                bhi = min(bhi, ax + (ll - ry * dy) / dx)
            elif dx < 0.0:
                blo = max(blo, ax + (ll - ry * dy) / dx)
                bhi = min(bhi, ax - ry * dy / dx)
            elif not (0.0 <= ry * dy <= ll):
                blo = np.inf
                bhi = -np.inf
            if blo <= bhi:
                lo_x = min(lo_x, blo)
                hi_x = max(hi_x, bhi)
    return lo_x, hi_x


@njit(cache=True, nogil=True)
def distance_field(seg, x0, y0, h, nx, ny, r):  # pragma: no cover - compiled
    """Distance from each grid node ``(x0 + j·h, y0 + i·h)`` to the nearest segment ``seg[k] = (ax, ay, bx,
    by)``, exact where the ``r`` iso-line can pass (between ``r - 1.5h`` and ``r + 1.5h``); nodes deeper inside
    get 0, nodes farther out ``r + 2h`` — a cell crossed by the iso-line never has such a corner, since
    the distance is 1-Lipschitz."""
    big = r + 2.0 * h
    f = np.full((ny, nx), big * big)
    reach = r + 1.5 * h
    inner = r - 1.5 * h
    for k in range(seg.shape[0]):
        ax, ay, bx, by = seg[k, 0], seg[k, 1], seg[k, 2], seg[k, 3]
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy
        inv = 1.0 / ll if ll > 0.0 else 0.0
        i0 = max(int(np.floor((min(ay, by) - reach - y0) / h)), 0)
        i1 = min(int(np.ceil((max(ay, by) + reach - y0) / h)), ny - 1)
        for i in range(i0, i1 + 1):
            py = y0 + i * h
            lo_x, hi_x = _row_span(ax, ay, bx, by, dx, dy, ll, py, reach)
            if lo_x > hi_x:
                continue
            ja = max(int(np.floor((lo_x - x0) / h)), 0)
            jb = min(int(np.ceil((hi_x - x0) / h)), nx - 1)
            ia, ib = jb + 1, jb
            if inner > 0.0:
                lo_i, hi_i = _row_span(ax, ay, bx, by, dx, dy, ll, py, inner)
                if lo_i <= hi_i:
                    ia = max(int(np.ceil((lo_i - x0) / h)), ja)
                    ib = min(int(np.floor((hi_i - x0) / h)), jb)
                    for j in range(ia, ib + 1):
                        f[i, j] = 0.0
                    if ia > ib:
                        ia, ib = jb + 1, jb
            for j in range(ja, jb + 1):
                if ia <= j <= ib:
                    continue
                if f[i, j] == 0.0:
                    continue
                px = x0 + j * h
                t = ((px - ax) * dx + (py - ay) * dy) * inv
                if t < 0.0:
                    t = 0.0
                elif t > 1.0:
                    t = 1.0
                ex = ax + t * dx - px
                ey = ay + t * dy - py
                d2 = ex * ex + ey * ey
                if d2 < f[i, j]:
                    f[i, j] = d2
    return np.sqrt(f)


# Marching squares: for each case (a=bottom-left 1, b=bottom-right 2, c=top-right 4, d=top-left 8 inside),
# directed segments between sides (0 bottom, 1 right, 2 top, 3 left) with the inside on the left.
_MS = np.array([
    [-1, -1, -1, -1], [0, 3, -1, -1], [1, 0, -1, -1], [1, 3, -1, -1],
    [2, 1, -1, -1], [0, 1, 2, 3], [2, 0, -1, -1], [2, 3, -1, -1],
    [3, 2, -1, -1], [0, 2, -1, -1], [3, 0, 1, 2], [1, 2, -1, -1],
    [3, 1, -1, -1], [0, 1, -1, -1], [3, 0, -1, -1], [-1, -1, -1, -1],
], dtype=np.int64)
# saddles with the centre outside: 5 → a: bottom→left, c: top→right; 10 → b: right→bottom, d: left→top
_MS_SEP = np.array([[0, 3, 2, 1], [1, 0, 3, 2]], dtype=np.int64)


@njit(cache=True, nogil=True)
def _side_edge(i, j, side, nx, n_h):
    if side == 0:
        return i * (nx - 1) + j
    if side == 2:
        return (i + 1) * (nx - 1) + j
    if side == 3:
        return n_h + i * nx + j
    return n_h + i * nx + j + 1


@njit(cache=True, inline="always")
def _crossing(p, q, po, qo, level):
    """Where ``f = level`` crosses a lattice edge from value ``p`` to ``q`` (0 at p, 1 at q), moved if need be
    inside the crossing of a field ``outer <= f`` (values ``po``, ``qo``) so that the inside part of the edge
    (``f <= level``) lies within the outer field's: the lines of a smaller budget then never leave a larger
    one's, whatever the rounding."""
    t = (level - p) / (q - p) if q != p else 0.5
    if p <= level and qo > level:
        to = (level - po) / (qo - po) if qo != po else 0.5
        if to < t:
            t = to
    elif q <= level and po > level:
        to = (level - po) / (qo - po) if qo != po else 0.5
        if to > t:
            t = to
    return t


@njit(cache=True, nogil=True)
def contour_rings(f, outer, level, x0, y0, h):  # pragma: no cover - compiled
    """Closed iso-lines ``f = level`` (inside: ``f <= level``; the border of ``f`` must be outside) as
    ``(xy, ring_id)``, each ring oriented with the inside on its left (shells CCW, holes CW). ``outer`` is a
    field on the same lattice with ``outer <= f`` everywhere (or ``f`` itself): the lines then lie within its
    own (see :func:`_crossing`)."""
    nxt, px, py = _march(f, outer, level, x0, y0, h)
    return _chain(nxt, px, py)


@njit(cache=True, nogil=True)
def _march(f, outer, level, x0, y0, h):  # pragma: no cover - compiled
    """Marching squares: for each lattice edge the line crosses, its crossing point ``(px, py)`` and the edge
    the line goes on to in the same cell (``nxt``, -1 where none)."""
    ny, nx = f.shape
    n_h = ny * (nx - 1)
    n_e = n_h + (ny - 1) * nx
    nxt = np.full(n_e, -1, np.int64)
    px = np.zeros(n_e)
    py = np.zeros(n_e)
    has = np.zeros(n_e, np.bool_)
    for i in range(ny - 1):
        for j in range(nx - 1):
            fa, fb, fc, fd = f[i, j], f[i, j + 1], f[i + 1, j + 1], f[i + 1, j]
            case = 0
            if fa <= level:
                case |= 1
            if fb <= level:
                case |= 2
            if fc <= level:
                case |= 4
            if fd <= level:
                case |= 8
            if case == 0 or case == 15:
                continue
            segs = _MS[case]
            if case == 5 or case == 10:
                if 0.25 * (fa + fb + fc + fd) > level:
                    segs = _MS_SEP[0 if case == 5 else 1]
            for s in range(0, 4, 2):
                s0 = segs[s]
                if s0 < 0:
                    break
                s1 = segs[s + 1]
                for side in (s0, s1):
                    e = _side_edge(i, j, side, nx, n_h)
                    if not has[e]:
                        has[e] = True
                        if side == 0:
                            ia, ja, ib, jb = i, j, i, j + 1
                        elif side == 1:
                            ia, ja, ib, jb = i, j + 1, i + 1, j + 1
                        elif side == 2:
                            ia, ja, ib, jb = i + 1, j, i + 1, j + 1
                        else:
                            ia, ja, ib, jb = i, j, i + 1, j
                        xa, ya, xb, yb = ja, ia, jb, ib
                        t = _crossing(f[ia, ja], f[ib, jb], outer[ia, ja], outer[ib, jb], level)
                        px[e] = x0 + (xa + t * (xb - xa)) * h
                        py[e] = y0 + (ya + t * (yb - ya)) * h
                nxt[_side_edge(i, j, s0, nx, n_h)] = _side_edge(i, j, s1, nx, n_h)
    return nxt, px, py


@njit(cache=True, nogil=True)
def _chain(nxt, px, py):  # pragma: no cover - compiled
    """Follow ``nxt`` from edge to edge into closed rings: ``(xy, ring_id)``, each ring's first point repeated at
    its end; chains of fewer than three points are dropped. Consumes ``nxt``."""
    n_e = nxt.size
    n_pts = 0
    for e in range(n_e):
        if nxt[e] >= 0:
            n_pts += 1
    out = np.empty((n_pts + n_pts // 3 + 4, 2))
    rid = np.empty(n_pts + n_pts // 3 + 4, np.int64)
    k = 0
    ring = 0
    for e0 in range(n_e):
        if nxt[e0] < 0:
            continue
        e = e0
        start = k
        while nxt[e] >= 0:
            out[k, 0] = px[e]
            out[k, 1] = py[e]
            rid[k] = ring
            k += 1
            n = nxt[e]
            nxt[e] = -1
            e = n
        if k - start >= 3:
            out[k, 0] = out[start, 0]
            out[k, 1] = out[start, 1]
            rid[k] = ring
            k += 1
            ring += 1
        else:
            k = start
    return out[:k], rid[:k]


@njit(cache=True, inline="always")
def _grown(values, n):
    """``values`` with room for twice ``n`` items (its first ``n`` kept)."""
    bigger = np.empty(2 * n, values.dtype)
    bigger[:n] = values[:n]
    return bigger


@njit(cache=True, inline="always")
def _heap_push(costs, nodes, size, cost, node):
    """Push ``(cost, node)`` onto the binary min-heap in ``costs``/``nodes`` (grown when full); returns the
    arrays and the new size."""
    if size == costs.shape[0]:
        costs = _grown(costs, size)
        nodes = _grown(nodes, size)
    pos = size
    while pos > 0:
        par = (pos - 1) >> 1
        if costs[par] <= cost:
            break
        costs[pos] = costs[par]
        nodes[pos] = nodes[par]
        pos = par
    costs[pos] = cost
    nodes[pos] = node
    return costs, nodes, size + 1


@njit(cache=True, inline="always")
def _heap_pop(costs, nodes, size):
    """Remove the heap's smallest item; returns its cost, its node and the new size."""
    cost = costs[0]
    node = nodes[0]
    size -= 1
    last_cost = costs[size]
    last_node = nodes[size]
    pos = 0
    while True:
        ch = 2 * pos + 1
        if ch >= size:
            break
        if ch + 1 < size and costs[ch + 1] < costs[ch]:
            ch += 1
        if costs[ch] >= last_cost:
            break
        costs[pos] = costs[ch]
        nodes[pos] = nodes[ch]
        pos = ch
    if size > 0:
        costs[pos] = last_cost
        nodes[pos] = last_node
    return cost, node, size


@njit(cache=True, inline="always")
def _touch(touched, nt, node):
    """Append ``node`` to the list of touched nodes (grown when full); returns the list and its length."""
    if nt == touched.shape[0]:
        touched = _grown(touched, nt)
    touched[nt] = node
    return touched, nt + 1


@njit(cache=True, nogil=True)
def dijkstra_limited(indptr, indices, data, s_nodes, s_costs, limit, dist):  # pragma: no cover - compiled
    """Dijkstra from several weighted start nodes, stopping at ``limit``.

    ``dist`` is a dense buffer of ``inf`` (one per node) that receives the distances; the nodes it touched
    (all with distance ``<= limit``) are returned so the caller can read them and reset them to ``inf``.
    Work is proportional to the reached part of the graph, not to its size."""
    heap_costs = np.empty(256)
    heap_nodes = np.empty(256, np.int64)
    size = 0
    touched = np.empty(64, np.int64)
    nt = 0
    for k in range(s_nodes.shape[0]):
        s = s_nodes[k]
        c = s_costs[k]
        if c > limit or c >= dist[s]:
            continue
        if dist[s] == np.inf:
            touched, nt = _touch(touched, nt, s)
        dist[s] = c
        heap_costs, heap_nodes, size = _heap_push(heap_costs, heap_nodes, size, c, s)
    while size > 0:
        c, u, size = _heap_pop(heap_costs, heap_nodes, size)
        if c > dist[u]:
            continue
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            nd = c + data[p]
            if nd > limit or nd >= dist[v]:
                continue
            if dist[v] == np.inf:
                touched, nt = _touch(touched, nt, v)
            dist[v] = nd
            heap_costs, heap_nodes, size = _heap_push(heap_costs, heap_nodes, size, nd, v)
    return touched[:nt]


@njit(cache=True, nogil=True, inline="always")
def _emit(out, n, coords, cum, a, b, s0, s1):  # pragma: no cover - compiled
    """Append the segments of the vertex range ``[a, b)`` clipped to ``[s0, s1]`` metres; returns count."""
    for k in range(a, b - 1):
        c0 = cum[k]
        c1 = cum[k + 1]
        if c1 <= s0 or c0 >= s1 or c1 <= c0:
            continue
        x0, y0 = coords[k, 0], coords[k, 1]
        x1, y1 = coords[k + 1, 0], coords[k + 1, 1]
        t0 = (s0 - c0) / (c1 - c0) if s0 > c0 else 0.0
        t1 = (s1 - c0) / (c1 - c0) if s1 < c1 else 1.0
        if n == out.shape[0]:
            o2 = np.empty((2 * n, 4))
            o2[:n] = out
            out = o2
        out[n, 0] = x0 + t0 * (x1 - x0)
        out[n, 1] = y0 + t0 * (y1 - y0)
        out[n, 2] = x0 + t1 * (x1 - x0)
        out[n, 3] = y0 + t1 * (y1 - y0)
        n += 1
    return out, n


@njit(cache=True, nogil=True)
def reached_segments(dist, touched, budget, inc_ptr, inc, eu, ev, length, oneway, coords, offsets, cum,
                     mark, e0, a0, x0):  # pragma: no cover - compiled
    """Segments ``(ax, ay, bx, by)`` of every street part reached within ``budget``: whole edges, partial
    edges cut at the reached distance from either end (one-way edges only from their start), and the
    facility's own edge ``e0`` around its snap point ``a0`` (``x0`` metres off the street). ``mark`` is a
    zeroed per-edge buffer, left zeroed. Returns ``(segments, reached node count)``."""
    out = np.empty((256, 4))
    n = 0
    nodes = 0
    for t in range(touched.shape[0]):
        node = touched[t]
        if dist[node] > budget:
            continue
        nodes += 1
        for p in range(inc_ptr[node], inc_ptr[node + 1]):
            e = inc[p]
            if mark[e]:
                continue
            mark[e] = True
            L = length[e]
            a = budget - dist[eu[e]]
            if not a > 0.0:
                a = 0.0
            b = 0.0
            if not oneway[e]:
                b = budget - dist[ev[e]]
                if not b > 0.0:
                    b = 0.0
            if a + b >= L:
                out, n = _emit(out, n, coords, cum, offsets[e], offsets[e + 1], -1.0, L + 1.0)
            else:
                if a > 0.0:
                    out, n = _emit(out, n, coords, cum, offsets[e], offsets[e + 1], 0.0, a)
                if b > 0.0:
                    out, n = _emit(out, n, coords, cum, offsets[e], offsets[e + 1], L - b, L)
    for t in range(touched.shape[0]):
        node = touched[t]
        for p in range(inc_ptr[node], inc_ptr[node + 1]):
            mark[inc[p]] = False
    if e0 >= 0:
        rem = budget - x0
        if rem > 0.0:
            lo = a0 if oneway[e0] else a0 - rem
            out, n = _emit(out, n, coords, cum, offsets[e0], offsets[e0 + 1], max(lo, 0.0),
                           min(a0 + rem, length[e0]))
    return out[:n], nodes
