"""三单 and 微心愿 from placement to closure on PostGIS, with the hand-made community."""

import pytest
from sqlalchemy import text

from gis.errors import Conflict, Forbidden, InvalidCoordinates, InvalidInput
from layers import services, tracking, wishes
from tests.layers import people_fixtures as fx


@pytest.fixture(scope="module")
def community(module_sessionmaker):
    with module_sessionmaker() as s:
        return fx.build(s)


def test_an_order_goes_from_placement_to_closure(module_sessionmaker, community):
    party2 = community["people"]["party2"]
    with module_sessionmaker() as s:
        order = services.place_order(s, lon=102.3062, lat=38.6025, category="elderly_help",
                                     description="帮忙取药", resident_name="测试居民", resident_phone="13711112222")
        s.commit()
        assert (order.grid_code, order.community_code, order.state) == (fx.G2, fx.COMMUNITY, "placed")
        assert tracking.find(s, order.resident_token.lower()).object_id == order.id  # the tracking token rates it
        with pytest.raises(InvalidInput):
            services.dispatch_order(s, order.id, actor="社区书记", taker_id=community["people"]["head"])  # no party
        services.dispatch_order(s, order.id, actor="社区书记", taker_id=party2)
        assert order.due_at is not None and (order.due_at - order.dispatched_at).total_seconds() == 48 * 3600
        assert (order.state, order.offered_to_id, order.taker_id) == ("dispatched", party2, None)  # not yet taken
        assert services.open_loads(s, [party2]) == {party2: 1}
        with pytest.raises(Forbidden):
            services.accept_order(s, order.id, person_id=community["people"]["party1"], actor="另一党员")
        services.accept_order(s, order.id, person_id=party2, actor="党员")
        assert (order.state, order.taker_id, order.offered_to_id) == ("taken", party2, None)
        assert services.open_loads(s, [party2]) == {party2: 1}
        with pytest.raises(Forbidden):
            services.fulfil_order(s, order.id, actor="x", person_id=community["people"]["party1"])
        services.fulfil_order(s, order.id, actor="党员", person_id=party2)
        with pytest.raises(Forbidden):
            services.rate_order(s, order.id, token="wrong-token-123", rating=5)
        services.rate_order(s, order.id, token=order.resident_token, rating=5, feedback="很及时")
        s.commit()
        assert order.state == "closed" and order.rating == 5
        with pytest.raises(Conflict):
            services.dispatch_order(s, order.id, actor="x", taker_id=party2)
        moves = [(e.action, e.to_state) for e in services.order_events(s, order.id)]
    assert moves == [("place", "placed"), ("dispatch", "dispatched"), ("accept", "taken"), ("fulfil", "fulfilled"),
                     ("rate", "closed")]


def test_a_refusal_returns_the_order_to_the_community(module_sessionmaker, community):
    """Issue 18: 党员接单 is an explicit acceptance; a refusal (with its reason) returns the order, and the
    community dispatches it to someone else."""
    party1, party2, party3 = (community["people"][k] for k in ("party1", "party2", "party3"))
    with module_sessionmaker() as s:
        order = services.place_order(s, lon=102.3062, lat=38.6025, category="errand")
        services.dispatch_order(s, order.id, actor="社区", taker_id=party2)
        with pytest.raises(InvalidInput):
            services.refuse_order(s, order.id, person_id=party2, actor="党员", reason="  ")
        services.refuse_order(s, order.id, person_id=party2, actor="党员", reason="出差在外")
        assert (order.state, order.offered_to_id, order.due_at) == ("placed", None, None)
        assert services.refused_by(s, order.id) == {party2}
        with pytest.raises(Conflict):
            services.dispatch_order(s, order.id, actor="社区", taker_id=party2)  # not offered again to who refused
        suggested = [x["person_id"] for x in services.suggest_takers(s, order.id, walk=lambda *a: a[2] * 0 + 100.0)]
        assert party2 not in suggested and party3 in suggested
        services.dispatch_order(s, order.id, actor="社区", taker_id=party3)
        services.accept_order(s, order.id, person_id=party3, actor="党员")
        services.refuse_order(s, order.id, person_id=party3, actor="党员", reason="身体不适")  # gives it up
        assert (order.state, order.taker_id) == ("placed", None)
        services.dispatch_order(s, order.id, actor="社区", taker_id=party1)
        notes = [(e.action, e.person_id, e.note) for e in services.order_events(s, order.id)]
        s.rollback()
    assert notes[2] == ("refuse", party2, "出差在外") and notes[5] == ("give_up", party3, "身体不适")


def test_an_order_in_no_community_is_refused(module_sessionmaker, community):
    with module_sessionmaker() as s, pytest.raises(InvalidInput) as caught:
        services.place_order(s, lon=102.2, lat=38.7, category="errand")
    assert "不在任何社区或网格内" in caught.value.message and caught.value.detail["fields"]["place"]


def test_gcj02_orders_are_converted_and_keep_the_original(module_sessionmaker, community):
    from gis.coords import wgs84_to_gcj02

    glon, glat = (float(v) for v in wgs84_to_gcj02(102.3062, 38.6025))
    with module_sessionmaker() as s:
        order = services.place_order(s, lon=glon, lat=glat, crs="gcj02", category="errand")
        x, y = s.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM service_orders WHERE id = :i"),
                         {"i": order.id}).one()
        assert abs(x - 102.3062) < 1e-6 and abs(y - 38.6025) < 1e-6
        assert (order.original_lon, order.original_crs, order.grid_code) == (glon, "gcj02", fx.G2)
        s.rollback()


@pytest.mark.parametrize("kwargs,error", [
    ({"lon": 38.6, "lat": 102.3, "category": "errand"}, InvalidCoordinates),
    ({"lon": 102.3, "lat": 38.6, "category": "massage"}, InvalidInput),
])
def test_bad_orders_change_nothing(module_sessionmaker, community, kwargs, error):
    with module_sessionmaker() as s:
        before = s.scalar(text("SELECT count(*) FROM service_orders"))
        with pytest.raises(error):
            services.place_order(s, **kwargs)
        s.rollback()
        assert s.scalar(text("SELECT count(*) FROM service_orders")) == before


def test_monthly_counts(module_sessionmaker, community):
    with module_sessionmaker() as s:
        o = services.place_order(s, lon=102.3022, lat=38.6021, category="cleaning")
        services.dispatch_order(s, o.id, actor="x", taker_id=community["people"]["party1"])
        s.execute(text("UPDATE service_orders SET due_at = now() - interval '1 hour' WHERE id = :i"), {"i": o.id})
        s.commit()
        rows = {r["grid_code"]: r for r in services.monthly_counts(s, unit=fx.COMMUNITY)}
    assert rows[fx.G1]["placed"] >= 1 and rows[fx.G1]["late"] >= 1
    assert rows[fx.G2]["fulfilled"] >= 1 and rows[fx.G2]["late"] == 0


def test_a_wish_is_claimed_and_fulfilled_and_listed_without_names(module_sessionmaker, community):
    with module_sessionmaker() as s:
        wish = wishes.post_wish(s, grid_code=fx.G1, title="想要一副老花镜", resident_name="测试奶奶",
                                resident_phone="13600000000")
        with pytest.raises(InvalidInput):
            wishes.claim_wish(s, wish.id, person_id=community["people"]["party1"], unit="测试局")
        wishes.claim_wish(s, wish.id, unit="测试局")
        wishes.fulfil_wish(s, wish.id)
        s.commit()
        public = [wishes.public_wish(w) for w in wishes.list_wishes(s, grid_code=fx.COMMUNITY)]
    assert public[0]["state"] == "fulfilled" and public[0]["claimed_by"] == "单位"
    assert "测试奶奶" not in str(public) and "136000" not in str(public) and "测试局" not in str(public)


def test_a_wish_is_placed_by_its_point(module_sessionmaker, community):
    with module_sessionmaker() as s:
        wish = wishes.post_wish(s, place=(102.3062, 38.6025, "wgs84"), title="想学用智能手机")
        assert (wish.grid_code, wish.community_code) == (fx.G2, fx.COMMUNITY)
        assert tracking.token_of(s, tracking.TrackKind.WISH, wish.id)
        with pytest.raises(InvalidInput) as caught:
            wishes.post_wish(s, place=(102.2, 38.7, "wgs84"), title="x")
        assert "不在任何现行网格内" in caught.value.message
        s.rollback()


def test_wishes_refuse_retired_and_unknown_grids_saying_what_they_are(module_sessionmaker, community):
    """Issue 18: a 微心愿 accepted a retired grid code. Now: retired (with its generation and the grid that serves
    the place now), only in a draft, or never a grid — each said as such, and nothing is stored."""
    with module_sessionmaker() as s:
        s.execute(text("UPDATE grid_plans SET status = 'retired' WHERE generation = 1"))
        plan2 = s.execute(text("INSERT INTO grid_plans (name, status, generation, effective_from, source) VALUES "
                               "('测试方案二', 'published', 2, '2025-01-01', 'test') RETURNING id")).scalar()
        draft = s.execute(text("INSERT INTO grid_plans (name, status, source) VALUES ('草案', 'draft', 'test') "
                               "RETURNING id")).scalar()
        s.execute(text("INSERT INTO grids (plan_id, code, name, kind, community_code, community_edition, geom, "
                       "households, residents, version, source, properties) SELECT :p, :new, '测试社区第04网格', kind, "
                       "community_code, community_edition, ST_Multi(ST_Union(geom)), 0, 0, 1, 'test', '{}' FROM grids "
                       "WHERE code IN (:g1, :g2) GROUP BY kind, community_code, community_edition"),
                  {"p": plan2, "new": fx.COMMUNITY + "004", "g1": fx.G1, "g2": fx.G2})
        s.execute(text("INSERT INTO grids (plan_id, code, name, kind, community_code, community_edition, geom, "
                       "households, residents, version, source, properties) SELECT :d, :c, '草案网格', kind, "
                       "community_code, community_edition, geom, 0, 0, 1, 'test', '{}' FROM grids WHERE code = :g1"),
                  {"d": draft, "c": fx.COMMUNITY + "009", "g1": fx.G1})
        before = s.scalar(text("SELECT count(*) FROM wishes"))
        said = {}
        for code in (fx.G1, fx.COMMUNITY + "009", "620399001001777"):
            with pytest.raises(InvalidInput) as caught:
                wishes.post_wish(s, grid_code=code, title="想要一副老花镜")
            said[code] = caught.value
        assert s.scalar(text("SELECT count(*) FROM wishes")) == before
        assert wishes.post_wish(s, grid_code=fx.COMMUNITY + "004", title="新网格的心愿").grid_code.endswith("004")
        s.rollback()
    retired = said[fx.G1]
    assert "已随第 1 代网格方案废止" in retired.message and "测试社区第04网格" in retired.message
    assert retired.detail["now"] == fx.COMMUNITY + "004" and "服务单" not in retired.message
    assert "草案" in said[fx.COMMUNITY + "009"].message
    assert "都没有这个编码" in said["620399001001777"].message
    assert all("微心愿" in e.message or "心愿" in e.message for e in said.values())
