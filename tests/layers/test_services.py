"""三单 and 微心愿 from placement to closure on PostGIS, with the hand-made community."""

import pytest
from sqlalchemy import text

from gis.errors import Conflict, Forbidden, InvalidCoordinates, InvalidInput
from layers import services
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
        services.dispatch_order(s, order.id, actor="社区书记")
        assert order.due_at is not None and (order.due_at - order.dispatched_at).total_seconds() == 48 * 3600
        with pytest.raises(InvalidInput):
            services.take_order(s, order.id, taker_id=community["people"]["head"])  # not a party member
        services.take_order(s, order.id, taker_id=party2)
        assert services.open_loads(s, [party2]) == {party2: 1}
        services.fulfil_order(s, order.id)
        with pytest.raises(Forbidden):
            services.rate_order(s, order.id, token="wrong-token-123", rating=5)
        services.rate_order(s, order.id, token=order.resident_token, rating=5, feedback="很及时")
        s.commit()
        assert order.state == "closed" and order.rating == 5
        with pytest.raises(Conflict):
            services.dispatch_order(s, order.id, actor="x")


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
        services.dispatch_order(s, o.id, actor="x")
        s.execute(text("UPDATE service_orders SET due_at = now() - interval '1 hour' WHERE id = :i"), {"i": o.id})
        s.commit()
        rows = {r["grid_code"]: r for r in services.monthly_counts(s, unit=fx.COMMUNITY)}
    assert rows[fx.G1]["placed"] >= 1 and rows[fx.G1]["late"] >= 1
    assert rows[fx.G2]["fulfilled"] >= 1 and rows[fx.G2]["late"] == 0


def test_a_wish_is_claimed_and_fulfilled_and_listed_without_names(module_sessionmaker, community):
    with module_sessionmaker() as s:
        wish = services.post_wish(s, grid_code=fx.G1, title="想要一副老花镜", resident_name="测试奶奶",
                                  resident_phone="13600000000")
        with pytest.raises(InvalidInput):
            services.claim_wish(s, wish.id, person_id=community["people"]["party1"], unit="测试局")
        services.claim_wish(s, wish.id, unit="测试局")
        services.fulfil_wish(s, wish.id)
        s.commit()
        public = [services.public_wish(w) for w in services.list_wishes(s, grid_code=fx.COMMUNITY)]
    assert public[0]["state"] == "fulfilled" and public[0]["claimed_by"] == "单位"
    assert "测试奶奶" not in str(public) and "136000" not in str(public) and "测试局" not in str(public)
