"""Property-based run of the OpenAPI schema (schemathesis) against the app with the Jinchang demo loaded.

Bounded and deterministic: at most ``MAX_EXAMPLES`` examples per operation, derandomized. Every answer must be
a non-5xx, with the declared content type and (where a response schema is declared) matching it. The whole
schema is called as an admin, so that the protected operations are exercised past their gates; then, with fewer
examples, as the roles whose answers depend on their scope (a street's dispatcher, a grid's party member) and as a
resident's public account, so that the scope filters and refusals meet odd input too.
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

MAX_EXAMPLES = int(os.environ.get("GRIDMAP_FUZZ_EXAMPLES", "20"))
pytestmark = [pytest.mark.timeout(1200), pytest.mark.slow]
SECRET = TEST_SECRET
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


SETTINGS = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0))
APP = create_app(SETTINGS)  # the schema is read at import; the database is chosen by the fixture below
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
ADMIN = declared_bearer("fuzz_admin", {"admin"}, "")
ROLE_HEADERS = {
    "dispatcher_of_a_street": declared_bearer("fuzz_dispatcher", {"dispatcher"}, "620302001"),
    "party_member_of_a_grid": declared_bearer("fuzz_party", {"party_member"}, "620302001001001"),
    "grid_staff_of_a_community": declared_bearer("fuzz_staff", {"grid_staff"}, "620302001001"),
    "public_account": declared_bearer("fuzz_public", {"public"}, None),
}
ROLE_EXAMPLES = max(2, MAX_EXAMPLES // 5)


@pytest.fixture(scope="module", autouse=True)
def _demo_app(module_demo_db):
    SETTINGS.db = module_demo_db
    with TestClient(APP), accounts_in(APP.state.sessionmaker):  # the engine lives while the module's tests run
        yield


# Operations that compute (service circles, coverage, map pages, tiles) or answer tens of megabytes (every
# stored service circle as GeoJSON) take seconds per call: fewer examples.
HEAVY = r"^/(maps|tiles)/|^/api/v1/(circles|coverage)(/|$)|^/api/v1/layers/service-circles$"
HEAVY_EXAMPLES = max(2, MAX_EXAMPLES // 10)


@schema.exclude(path_regex=HEAVY).parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_schema(case):
    case.call_and_validate(headers=ADMIN, checks=CHECKS)


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
    case.call_and_validate(headers=ADMIN, checks=HEAVY_CHECKS, timeout=300)


@pytest.mark.parametrize("role", sorted(ROLE_HEADERS))
@schema.exclude(path_regex=HEAVY).parametrize()
@settings(
    max_examples=ROLE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_schema_as_scoped_roles(case, role):
    case.call_and_validate(headers=ROLE_HEADERS[role], checks=CHECKS)
