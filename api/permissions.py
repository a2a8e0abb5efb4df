"""The permission matrix as data: for every endpoint, who may call it.

Each entry maps ``"METHOD /path"`` (the route's path template) to one of

- ``ANYONE``: the anonymous public included (answers never carry personal data);
- ``SIGNED_IN``: any account (no credentials → 401);
- a tuple of :class:`UserRole` values: those roles and admins pass, other accounts get 403, no credentials 401.

:func:`expected_status` turns an entry and a caller's role into the answer the gate gives: 200 (let through;
the route may still answer 404/422 for its own reasons), 401 or 403. ``tests/api/test_permissions.py`` walks
every route of the app × every role and checks the answer against this table; a route missing here fails
that test, so a new endpoint must be added to the matrix.
"""

from __future__ import annotations

from gis.domain import UserRole

ANYONE = "anyone"
SIGNED_IN = "signed_in"
Access = str | tuple[UserRole, ...]

ADMIN, PLANNER, DISPATCHER = UserRole.ADMIN, UserRole.PLANNER, UserRole.DISPATCHER
GRID_STAFF, PARTY_MEMBER = UserRole.GRID_STAFF, UserRole.PARTY_MEMBER

STAFF = (ADMIN, DISPATCHER, GRID_STAFF)
SERVERS = (*STAFF, PARTY_MEMBER)
ROSTER = (ADMIN, DISPATCHER, GRID_STAFF, PLANNER)
PLANNERS = (ADMIN, PLANNER)
ROSTER_EDITORS = (ADMIN, PLANNER, GRID_STAFF)

# The callers the matrix is checked for (``None`` = no credentials).
ROLES: dict[str, UserRole | None] = {
    "anonymous": None,
    "public": UserRole.PUBLIC,
    "grid_staff": GRID_STAFF,
    "party_member": PARTY_MEMBER,
    "dispatcher": DISPATCHER,
    "planner": PLANNER,
    "admin": ADMIN,
}

MATRIX: dict[str, Access] = {
    # documentation and health
    "GET /openapi.json": ANYONE,
    "GET /docs": ANYONE,
    "GET /docs/oauth2-redirect": ANYONE,
    "GET /redoc": ANYONE,
    "GET /healthz": ANYONE,
    # sign-in
    "POST /api/v1/auth/token": ANYONE,
    "GET /api/v1/auth/me": SIGNED_IN,
    # accounts: admins only (every change ends the account's tokens and is audited)
    "GET /api/v1/users": (ADMIN,),
    "POST /api/v1/users/{username}/disable": (ADMIN,),
    "POST /api/v1/users/{username}/enable": (ADMIN,),
    "PUT /api/v1/users/{username}/roles": (ADMIN,),
    "PUT /api/v1/users/{username}/scope": (ADMIN,),
    "PUT /api/v1/users/{username}/password": (ADMIN,),
    "DELETE /api/v1/users/{username}": (ADMIN,),
    # public layers (no personal data)
    "GET /api/v1/layers": ANYONE,
    "GET /api/v1/layers/areas": ANYONE,
    "GET /api/v1/layers/grids": ANYONE,
    "GET /api/v1/layers/buildings": ANYONE,
    "GET /api/v1/layers/facilities": ANYONE,
    "GET /api/v1/layers/streets": ANYONE,
    "GET /api/v1/layers/service-circles": ANYONE,
    "GET /api/v1/layers/street-responsibilities": ANYONE,
    "GET /api/v1/facilities": ANYONE,
    "GET /api/v1/facilities/types": ANYONE,
    "POST /api/v1/facilities/import": PLANNERS,
    "GET /api/v1/circles": ANYONE,
    "GET /api/v1/circles/stats": ANYONE,
    "GET /api/v1/circles/reachable": ANYONE,
    "POST /api/v1/circles/compute": PLANNERS,
    "GET /api/v1/coverage/report": ANYONE,
    "GET /api/v1/coverage/uncovered": ANYONE,
    "GET /api/v1/coverage/seven-ones": ANYONE,
    "POST /api/v1/coverage/sites": PLANNERS,
    "GET /api/v1/coverage/buildings/{building_id}": ANYONE,
    "GET /ogc": ANYONE,
    "GET /ogc/conformance": ANYONE,
    "GET /ogc/collections": ANYONE,
    "GET /ogc/collections/{collection_id}": ANYONE,
    "GET /ogc/collections/{collection_id}/items": ANYONE,
    "GET /ogc/collections/{collection_id}/items/{feature_id}": ANYONE,
    "GET /tiles/{layer}/{z}/{x}/{y}.mvt": ANYONE,
    # locating points (no data is stored)
    "GET /api/v1/locate": ANYONE,
    "POST /api/v1/locate/batch": ANYONE,
    # incidents: anyone reports and reads the public view (no reporter; sensitive points snapped); staff in
    # scope follow them; Open311 is public (POST checks its api_key itself: 403 in the spec's error form)
    "POST /api/v1/incidents": ANYONE,
    "GET /api/v1/incidents": (*STAFF, UserRole.SYSTEM),
    "GET /api/v1/incidents/categories": ANYONE,
    "GET /api/v1/incidents/channels": ANYONE,
    # the dispatcher's workbench: dry run of a report, the queue by scope, place search (no personal data)
    "POST /api/v1/incidents/preview": STAFF,
    "GET /api/v1/incidents/queue": STAFF,
    "GET /api/v1/incidents/places": STAFF,
    "GET /api/v1/incidents/escalation-receivers": (*STAFF, UserRole.SYSTEM),
    "GET /api/v1/incidents/{incident_id}/candidates": (ADMIN, DISPATCHER),
    "GET /api/v1/incidents/overdue": (*STAFF, UserRole.SYSTEM),
    "POST /api/v1/incidents/escalate-overdue": (ADMIN, DISPATCHER, UserRole.SYSTEM),
    "GET /api/v1/incidents/kpis": ANYONE,
    "GET /api/v1/incidents/{incident_id}": ANYONE,
    "GET /api/v1/incidents/{incident_id}/events": (*STAFF, UserRole.SYSTEM),
    "POST /api/v1/incidents/{incident_id}/transitions": (*STAFF, UserRole.SYSTEM),
    "GET /open311/v2/discovery.{fmt}": ANYONE,
    "GET /open311/v2/services.{fmt}": ANYONE,
    "GET /open311/v2/services/{service_code}.{fmt}": ANYONE,
    "GET /open311/v2/requests.{fmt}": ANYONE,
    "POST /open311/v2/requests.{fmt}": ANYONE,
    "GET /open311/v2/requests/{service_request_id}.{fmt}": ANYONE,
    "GET /open311/v2/tokens/{token}.{fmt}": ANYONE,
    # people: the contact board is public (公示牌), the vacancy audit is for staff and planners
    "GET /api/v1/roster/audit": ROSTER,
    "GET /api/v1/roster/summary": ROSTER,
    "GET /api/v1/grids/{code}/board": ANYONE,
    "GET /api/v1/grids/{code}/board.html": ANYONE,
    "GET /api/v1/street-responsibility/unassigned": ROSTER,
    # managing the roster: admins, planners and a 社区's own accounts, each within their area
    "GET /api/v1/roster/assignments": ROSTER_EDITORS,
    "POST /api/v1/roster/assignments": ROSTER_EDITORS,
    "POST /api/v1/roster/assignments/{assignment_id}/end": ROSTER_EDITORS,
    "POST /api/v1/roster/assignments/{assignment_id}/move": ROSTER_EDITORS,
    "POST /api/v1/roster/import": ROSTER_EDITORS,
    "GET /api/v1/buildings/{building_id}/board": ANYONE,
    "GET /api/v1/buildings/{building_id}/board.html": ANYONE,
    "PUT /api/v1/street-responsibility/{street_id}": (ADMIN, DISPATCHER),
    # 三单 and 微心愿: residents place and rate; staff read contacts (audited) and dispatch; party members serve
    "GET /api/v1/orders/categories": ANYONE,
    "POST /api/v1/orders": ANYONE,
    "GET /api/v1/orders": STAFF,
    "GET /api/v1/orders/stats": STAFF,
    "GET /api/v1/orders/{order_id}": SERVERS,
    "POST /api/v1/orders/{order_id}/dispatch": STAFF,
    "GET /api/v1/orders/{order_id}/suggestions": STAFF,
    "POST /api/v1/orders/{order_id}/accept": (PARTY_MEMBER,),
    "POST /api/v1/orders/{order_id}/refuse": (PARTY_MEMBER,),
    "POST /api/v1/orders/{order_id}/fulfil": SERVERS,
    "POST /api/v1/orders/{order_id}/rating": ANYONE,
    "POST /api/v1/wishes": ANYONE,
    "GET /api/v1/wishes/public": ANYONE,
    "GET /api/v1/wishes": STAFF,
    "POST /api/v1/wishes/{wish_id}/claim": SERVERS,
    "POST /api/v1/wishes/{wish_id}/fulfil": SERVERS,
    # residents on the public map: forms, finding a place by name, following with a tracking code (no sign-in)
    "GET /api/v1/residents/choices": ANYONE,
    "GET /api/v1/residents/places": ANYONE,
    "GET /api/v1/residents/position": ANYONE,
    "POST /api/v1/residents/reports": ANYONE,
    "POST /api/v1/residents/orders": ANYONE,
    "POST /api/v1/residents/wishes": ANYONE,
    "GET /api/v1/track/{token}": ANYONE,
    "POST /api/v1/track/{token}/rating": ANYONE,
    "GET /maps/track/{token}": ANYONE,
    # 五彩台账: kinds are public, counts and person-level entries are staff only (entries audited)
    "GET /api/v1/ledgers/kinds": ANYONE,
    "PUT /api/v1/buildings/{building_id}/ledger": STAFF,
    "GET /api/v1/ledgers/counts": STAFF,
    "POST /api/v1/ledgers/entries": STAFF,
    "GET /api/v1/ledgers/entries": STAFF,
    # 六步议事: anyone proposes and reads the public view (proposers' contacts only for staff, audited);
    # staff of the area run the steps, meetings and votes; notices are public
    "GET /api/v1/deliberation/roles": ANYONE,
    "POST /api/v1/deliberation/topics": ANYONE,
    "GET /api/v1/deliberation/topics": ANYONE,
    "GET /api/v1/deliberation/topics/{topic_id}": ANYONE,
    "POST /api/v1/deliberation/topics/{topic_id}/steps": STAFF,
    "POST /api/v1/deliberation/topics/{topic_id}/attachments": STAFF,
    "POST /api/v1/deliberation/topics/{topic_id}/tasks": STAFF,
    "GET /api/v1/deliberation/suggestions": STAFF,
    "GET /api/v1/deliberation/councils/{community_code}/members": STAFF,
    "POST /api/v1/deliberation/councils/{community_code}/members": STAFF,
    "POST /api/v1/deliberation/meetings": STAFF,
    "POST /api/v1/deliberation/meetings/{meeting_id}/votes": STAFF,
    "GET /api/v1/deliberation/notices/{item_id}": ANYONE,
    "GET /deliberation": ANYONE,
    "GET /deliberation/notices/{item_id}": ANYONE,
    # 入户走访: staff log visits; notes are personal (staff of the area, audited); coverage has no personal data
    "POST /api/v1/visits": STAFF,
    "GET /api/v1/visits": STAFF,
    "GET /api/v1/visits/coverage": ROSTER,
    "GET /api/v1/visits/stale-buildings": ROSTER,
    "GET /api/v1/visits/buildings": STAFF,
    # 双报到 and points: staff keep the roll (contacts audited); Party members register and sign up themselves;
    # activities, rewards and the leaderboard (chosen display names only) are public
    "POST /api/v1/volunteers/registrations": SERVERS,
    "GET /api/v1/volunteers/registrations": STAFF,
    "POST /api/v1/volunteers/activities": STAFF,
    "GET /api/v1/volunteers/activities": ANYONE,
    "POST /api/v1/volunteers/activities/{activity_id}/signups": SERVERS,
    "POST /api/v1/volunteers/activities/{activity_id}/attendance": STAFF,
    "GET /api/v1/volunteers/activities/{activity_id}/signups": STAFF,
    "GET /api/v1/volunteers/registrations/{registration_id}/points": SERVERS,
    "POST /api/v1/volunteers/registrations/{registration_id}/points": STAFF,
    "GET /api/v1/volunteers/rewards": ANYONE,
    "POST /api/v1/volunteers/rewards": STAFF,
    "POST /api/v1/volunteers/rewards/{reward_id}/redemptions": STAFF,
    "GET /api/v1/volunteers/leaderboard": ANYONE,
    "GET /volunteers": ANYONE,
    # 社区事项准入清单: the list is public; admins publish it; staff see flags, dispatchers approve
    "GET /api/v1/matters": ANYONE,
    "PUT /api/v1/matters/{district}": (ADMIN,),
    "GET /api/v1/matters/check": ANYONE,
    "GET /api/v1/matters/flags": STAFF,
    "POST /api/v1/matters/flags/{flag_id}/decision": (ADMIN, DISPATCHER),
    "GET /matters": ANYONE,
    # grid plans: planners only
    "GET /api/v1/plans": PLANNERS,
    "POST /api/v1/plans": PLANNERS,
    "POST /api/v1/plans/drafts": PLANNERS,
    "POST /api/v1/plans/import": PLANNERS,
    "POST /api/v1/plans/validate": PLANNERS,
    "POST /api/v1/plans/proposals": PLANNERS,
    "GET /api/v1/plans/{plan_id}": PLANNERS,
    "GET /api/v1/plans/{plan_id}/grids/{code}": PLANNERS,
    "POST /api/v1/plans/{plan_id}/grids": PLANNERS,
    "PUT /api/v1/plans/{plan_id}/grids/{code}": PLANNERS,
    "DELETE /api/v1/plans/{plan_id}/grids/{code}": PLANNERS,
    "GET /api/v1/plans/{plan_id}/validation": PLANNERS,
    "GET /api/v1/plans/{plan_id}/impact": PLANNERS,
    "PUT /api/v1/plans/{plan_id}/handover": PLANNERS,
    "POST /api/v1/plans/{plan_id}/publish": PLANNERS,
    "POST /api/v1/plans/{plan_id}/reassign": PLANNERS,
    "GET /api/v1/plans/{plan_id}/export": PLANNERS,
    # maps: the public map has no personal data; the incident map is for staff and planners
    "GET /static/vendor/{path:path}": ANYONE,
    "GET /static/maps/{path:path}": ANYONE,
    "GET /maps/public": ANYONE,
    "GET /maps/grids": ANYONE,
    "GET /maps/incidents": ROSTER,
    "GET /maps/coverage": ANYONE,
    "GET /maps/signin": ANYONE,
    "POST /maps/session": ROSTER,
    "POST /maps/signout": ANYONE,
    "GET /maps/public/reach": ANYONE,
    "GET /maps/public/circles/{type_code}.json": ANYONE,
    "GET /maps/public/boards/{code}.json": ANYONE,
    "GET /maps/grids/problems.json": ANYONE,
    "GET /maps/dispatch": STAFF,
    "GET /maps/dispatch/token": STAFF,
    "GET /maps/civic": STAFF,
    "GET /maps/plans/{plan_id}/edit": PLANNERS,
    "GET /maps/plans/{plan_id}/edit/state": PLANNERS,
}


def expected_status(access: Access, role: UserRole | None) -> int:
    """What the gate answers a caller with ``role`` (``None`` = no credentials): 200, 401 or 403."""
    if access == ANYONE:
        return 200
    if role is None:
        return 401
    if access == SIGNED_IN:
        return 200
    if role == ADMIN or role in access:
        return 200
    return 403
