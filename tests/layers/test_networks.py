"""Walking network import (line files, OSM PBF), graph loading and walking distances, on real PostGIS."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from gis import network as gnet
from layers import models as m
from layers.networks import import_line_file, import_network, load_graph, network_version
from layers.walking import walking_distances, walking_distances_m
from tests.layers.network_fixtures import LAT0, LON0
from tests.layers.network_fixtures import pt as _pt
from tests.layers.network_fixtures import write_geojson as _write_geojson


@pytest.fixture(scope="module")
def small_net(module_sessionmaker, tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "small.geojson"
    _write_geojson(path, [[(0, 0), (100, 0)], [(100, 0), (200, 0)], [(200, 0), (300, 0)],
                          [(100, 0), (100, 150)]])
    with module_sessionmaker() as s:
        counts = import_line_file(s, path, "small")
        s.commit()
    return counts


def test_small_import_counts_and_node_snapping(small_net, module_sessionmaker):
    assert small_net["edges"] == 4
    assert small_net["nodes"] == 5  # endpoints shared by rounded coordinates
    assert small_net["length_km"] == pytest.approx(0.45, abs=0.005)
    with module_sessionmaker() as s:
        g = load_graph(s, "small")
        src = s.scalar(select(func.min(m.StreetEdge.source)).where(m.StreetEdge.network == "small"))
        load = s.scalar(select(m.DatasetLoad).where(m.DatasetLoad.name == "network:small"))
    assert src == "import:small.geojson"
    assert load.counts["edges"] == 4
    assert g.n_nodes == 5 and g.n_edges == 4
    assert g.crs == "EPSG:4543"
    lon, lat = gnet.decode_node_ids(g.node_ids)
    assert np.abs(lon - LON0).min() < 2e-6 and np.abs(lat - LAT0).min() < 2e-6
    # the CSR graph is symmetric (no one-way edges) with 4 × 2 entries
    assert g.csr.nnz == 8
    assert np.allclose(np.sort(g.csr.data), [100] * 6 + [150] * 2, atol=1.0)


def test_walking_distances_along_network(small_net, module_sessionmaker):
    with module_sessionmaker() as s:
        # origin on the middle of edge 0 (x=50), targets: end of the dead end, x=250 on the line, far away
        tgt = np.array([_pt(100, 150), _pt(250, 10), _pt(5000, 5000)])
        d, method = walking_distances(s, "small", *_pt(50, 0), tgt[:, 0], tgt[:, 1])
        d2 = walking_distances_m(s, "nope", *_pt(50, 0), tgt[:, 0], tgt[:, 1])
        auto = walking_distances_m(s, None, *_pt(50, 0), tgt[:, 0], tgt[:, 1])  # the network near the origin
    assert d[0] == pytest.approx(50 + 150, abs=2)
    assert d[1] == pytest.approx(200 + 10, abs=2)  # along to x=250 then 10 m off the street
    assert list(method) == ["network", "network", "euclidean"]
    straight = np.hypot(4950, 5000)
    assert d[2] == pytest.approx(straight * 1.3, rel=0.01)
    assert d2[0] == pytest.approx(np.hypot(50, 150) * 1.3, rel=0.01)  # unknown network → straight line
    assert auto.tolist() == pytest.approx(d.tolist())


def test_reimport_replaces_and_changes_version(small_net, module_sessionmaker, tmp_path):
    path = _write_geojson(tmp_path / "small2.geojson", [[(0, 0), (100, 0)]])
    with module_sessionmaker() as s:
        v1 = network_version(s, "small")
        import_line_file(s, path, "small-b")
        s.commit()
        assert network_version(s, "small") == v1
        assert load_graph(s, "small-b").n_edges == 1


def test_osm_pbf_walking_network(module_sessionmaker, repo_data):
    with module_sessionmaker() as s:
        counts = import_network(s, repo_data / "osm" / "guixi_jiangxi_2024.osm.pbf", "guixi")
        s.commit()
        g = load_graph(s, "guixi")
        src = s.scalar(select(func.min(m.StreetEdge.source)).where(m.StreetEdge.network == "guixi"))
        load = s.scalar(select(m.DatasetLoad).where(m.DatasetLoad.name == "network:guixi"))
    assert counts["edges"] > 1000
    assert 1000 < counts["nodes"] < 1500
    assert src == "osm"
    assert "OpenStreetMap" in load.attribution
    assert g.crs == "EPSG:32650"  # 贵溪 ≈ 117°E
    assert g.n_edges == counts["edges"]


def test_wuhan_parquet_import(module_sessionmaker, repo_data):
    with module_sessionmaker() as s:
        counts = import_line_file(s, repo_data / "osm" / "wuhan_fua8989_streets.parquet", "wuhan")
        s.commit()
        g = load_graph(s, "wuhan", use_cache=False)
        total = s.scalar(select(func.sum(m.StreetEdge.length_m)).where(m.StreetEdge.network == "wuhan"))
    assert counts["edges"] == 92_667
    assert 82_000 < counts["nodes"] < 83_500
    assert total / 1000 == pytest.approx(7185, rel=0.01)  # lengths kept from the UTM geometry
    assert g.n_nodes == counts["nodes"]
    assert g.crs == "EPSG:32650"
