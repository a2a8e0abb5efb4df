"""Property-based run of the OpenAPI schema (schemathesis) against the app with the Jinchang demo loaded.

Bounded and deterministic: at most ``MAX_EXAMPLES`` examples per operation, derandomized. Every answer must be
a non-5xx, with the declared content type and (where a response schema is declared) matching it. The whole
schema is called as an admin, so that the protected operations are exercised past their gates; then, with fewer
examples, as the roles whose answers depend on their scope (a street's dispatcher, a grid's party member) and as a
resident's public account, so that the scope filters and refusals meet odd input too. Page sizes are kept small
(:func:`bounded`) and the scoped roles skip schemathesis' coverage phase: 272 s (125 s of CPU) on the shared
2-core machine instead of 694 s.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer

MAX_EXAMPLES = int(os.environ.get("GRIDMAP_FUZZ_EXAMPLES", "10"))
pytestmark = [pytest.mark.timeout(1200), pytest.mark.slow]
SECRET = TEST_SECRET
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


SETTINGS = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0))
APP = create_app(SETTINGS)  # the schema is read at import; the database is chosen by the fixture below
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The scoped roles walk the schema with generated cases only: the boundary values of the coverage phase (every
# pattern, enum and limit of every parameter) meet the admin runs, which get past every gate; for the roles they
# would mostly repeat them (137 s instead of 27 s here). The heavy operations keep the coverage phase: its
# boundary cases are mostly refused at once, while generated valid ones would compute circles and sites.
generated_only = schemathesis.openapi.from_asgi("/openapi.json", APP)
generated_only.config.phases.coverage.enabled = False
ADMIN = declared_bearer("fuzz_admin", {"admin"}, "")
ROLE_HEADERS = {
    "dispatcher_of_a_street": declared_bearer("fuzz_dispatcher", {"dispatcher"}, "620302001"),
    "party_member_of_a_grid": declared_bearer("fuzz_party", {"party_member"}, "620302001001001"),
    "grid_staff_of_a_community": declared_bearer("fuzz_staff", {"grid_staff"}, "620302001001"),
    "public_account": declared_bearer("fuzz_public", {"public"}, None),
}
ROLE_EXAMPLES = max(2, MAX_EXAMPLES // 4)


@pytest.fixture(scope="module", autouse=True)
def _demo_app(module_demo_db):
    SETTINGS.db = module_demo_db
    with TestClient(APP), accounts_in(APP.state.sessionmaker):  # the engine lives while the module's tests run
        yield


# Operations that compute (service circles, coverage, map pages, tiles) or answer tens of megabytes (every
# stored service circle as GeoJSON) take seconds per call: fewer examples.
HEAVY = r"^/(maps|tiles)/|^/api/v1/(circles|coverage)(/|$)|^/api/v1/layers/service-circles$"
HEAVY_EXAMPLES = max(1, MAX_EXAMPLES // 10)


# Page sizes and counts the generator may push to their maxima (10,000 features, 20 suggested sites) or leave at
# their defaults (a list of 1,000 service circles is tens of megabytes): the schema allows them and other tests read
# them, here they only make a call take a minute. Such a parameter is set to at most these values.
BOUNDS = {"limit": 50, "sites": 1}


def bounded(case):
    """``case`` with its page sizes and counts no larger than :data:`BOUNDS` (the rest as generated)."""
    declared = {p.name for p in case.operation.query}
    for name, cap in BOUNDS.items():
        if name not in declared:
            continue
        value = (case.query or {}).get(name, cap + 1)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            case.query = {**(case.query or {}), name: cap}
    return case


@schema.exclude(path_regex=HEAVY).parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_schema(case):
    bounded(case).call_and_validate(headers=ADMIN, checks=CHECKS)


def not_a_server_error_unless_busy(ctx, response, case):
    """Heavy computations may time out on a loaded machine: a 503 with Retry-After is the documented answer."""
    if response.status_code == 503 and response.headers.get("retry-after"):
        return None
    return not_a_server_error(ctx, response, case)


HEAVY_CHECKS = [not_a_server_error_unless_busy, content_type_conformance, response_schema_conformance]


@schema.include(path_regex=HEAVY).parametrize()
@settings(
    max_examples=HEAVY_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_schema_heavy_operations(case):
    bounded(case).call_and_validate(headers=ADMIN, checks=HEAVY_CHECKS, timeout=300)


@pytest.mark.parametrize("role", sorted(ROLE_HEADERS))
@generated_only.exclude(path_regex=HEAVY).parametrize()
@settings(
    max_examples=ROLE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_schema_as_scoped_roles(case, role):
    bounded(case).call_and_validate(headers=ROLE_HEADERS[role], checks=CHECKS)
