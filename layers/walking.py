"""Walking distances over a stored network, from one origin to many points.

``walking_distances_m`` snaps the origin and every target to the nearest point on an edge (not only a node),
walks the network, and adds the straight walk between each point and its street. Where a point has no
street within ``snap_m`` or the network does not connect it to the origin, the distance falls back to the
straight line × ``detour`` (1.3); ``walking_distances`` also says which method each distance used.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from gis import network as gnet
from gis.coords import haversine_m
from gis.coverage import DETOUR
from gis.errors import NotFound
from layers.networks import default_network, load_graph


def walking_distances(session: Session, network: str | None, olon: float, olat: float, lons, lats, *,
                      snap_m: float = 300.0, detour: float = DETOUR) -> tuple[np.ndarray, np.ndarray]:
    """``(metres, method)`` from ``(olon, olat)`` to each ``(lons[i], lats[i])``; ``method`` is
    ``'network'`` or ``'euclidean'`` (straight line × ``detour``). ``network=None``: the network of the
    street nearest to the origin."""
    lons = np.atleast_1d(np.asarray(lons, dtype=float))
    lats = np.atleast_1d(np.asarray(lats, dtype=float))
    fallback = haversine_m(float(olon), float(olat), lons, lats) * detour
    method = np.full(len(lons), "euclidean", dtype=object)
    if len(lons) == 0:
        return fallback, method
    network = network or default_network(session, near=(float(olon), float(olat)))
    if network is None:
        return fallback, method
    try:
        g = load_graph(session, network)
    except NotFound:
        return fallback, method
    ox, oy = gnet.transform_xy([olon], [olat], "EPSG:4326", g.crs)
    oe, oa, od = g.snap(ox, oy, snap_m)
    if oe[0] < 0:
        return fallback, method
    tx, ty = gnet.transform_xy(lons, lats, "EPSG:4326", g.crs)
    te, ta, td = g.snap(tx, ty, snap_m)
    d_nodes = gnet.point_dijkstra(g, oe, oa, od)[0]
    net = gnet.distances_to_points(g, d_nodes, int(oe[0]), float(oa[0]), float(od[0]), te, ta,
                                   np.where(te >= 0, td, 0.0))
    ok = np.isfinite(net)
    out = np.where(ok, net, fallback)
    method[ok] = "network"
    return out, method


def walking_distances_m(session: Session, network: str | None, olon: float, olat: float, lons, lats,
                        **kw) -> np.ndarray:
    """Walking distances in metres from one origin to many points (network; straight line × 1.3 where the
    network does not reach)."""
    return walking_distances(session, network, olon, olat, lons, lats, **kw)[0]
