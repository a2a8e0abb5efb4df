"""Foundation schema: areas, plans and grids, buildings, facilities, streets, circles, incidents, staff, 包街.

Every geometry column is EPSG:4326 with a GiST index. Facility types are seeded from ``gis.domain``.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 06:59:55.157910
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from gis.domain import FACILITY_TYPES

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('admin_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('edition_year', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('geom_source', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{12}$'", name='code_12_digits'),
    sa.CheckConstraint("level IN ('city', 'county', 'township', 'community', 'village')", name='level_valid'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code', 'edition_year', name='uq_admin_areas_code_edition')
    )
    op.create_index(op.f('ix_admin_areas_code'), 'admin_areas', ['code'], unique=False)
    op.create_geospatial_index('ix_admin_areas_geom', 'admin_areas', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_admin_areas_parent_code'), 'admin_areas', ['parent_code'], unique=False)
    op.create_geospatial_table('buildings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('floors', sa.Integer(), nullable=True),
    sa.Column('stairwell_count', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('residents', sa.Integer(), nullable=False),
    sa.Column('use', sa.String(length=50), nullable=True),
    sa.Column('osm_id', sa.BigInteger(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_buildings_community_code'), 'buildings', ['community_code'], unique=False)
    op.create_geospatial_index('ix_buildings_geom', 'buildings', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('dataset_loads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('attribution', sa.Text(), nullable=True),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('facility_types',
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('group_code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.CheckConstraint("group_code IN ('seven_ones', 'service_circle', 'function_room', 'public_toilet')", name='group_code_valid'),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('grid_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=True),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name='status_valid'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('generation', name='uq_grid_plans_generation')
    )
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('public_phone', sa.String(length=40), nullable=True),
    sa.Column('is_party_member', sa.Boolean(), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_table('street_edges',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('network', sa.String(length=100), nullable=False),
    sa.Column('u', sa.BigInteger(), nullable=False),
    sa.Column('v', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('highway', sa.String(length=50), nullable=True),
    sa.Column('oneway', sa.Boolean(), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('ix_street_edges_geom', 'street_edges', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_street_edges_network_u_v', 'street_edges', ['network', 'u', 'v'], unique=False)
    op.create_geospatial_table('street_responsibilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_name', sa.String(length=200), nullable=False),
    sa.Column('responsible_unit', sa.String(length=200), nullable=True),
    sa.Column('unit_contact', sa.String(length=100), nullable=True),
    sa.Column('buffer_m', sa.Float(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTILINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('ix_street_responsibilities_geom', 'street_responsibilities', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_street_responsibilities_street_name'), 'street_responsibilities', ['street_name'], unique=False)
    op.create_geospatial_table('facilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type_code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('osm_id', sa.String(length=40), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['type_code'], ['facility_types.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_facilities_community_code'), 'facilities', ['community_code'], unique=False)
    op.create_geospatial_index('ix_facilities_geom', 'facilities', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_facilities_type_code'), 'facilities', ['type_code'], unique=False)
    op.create_geospatial_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('exclusive_type', sa.String(length=50), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('community_edition', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('residents', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{15}$'", name='code_15_digits'),
    sa.CheckConstraint("kind IN ('comprehensive', 'exclusive')", name='kind_valid'),
    sa.ForeignKeyConstraint(['plan_id'], ['grid_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'code', name='uq_grids_plan_code')
    )
    op.create_index(op.f('ix_grids_code'), 'grids', ['code'], unique=False)
    op.create_index(op.f('ix_grids_community_code'), 'grids', ['community_code'], unique=False)
    op.create_geospatial_index('ix_grids_geom', 'grids', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_grids_plan_id'), 'grids', ['plan_id'], unique=False)
    op.create_table('stairwells',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('building_id', 'number', name='uq_stairwells_building_number')
    )
    op.create_index(op.f('ix_stairwells_building_id'), 'stairwells', ['building_id'], unique=False)
    op.create_geospatial_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('original_lon', sa.Float(), nullable=False),
    sa.Column('original_lat', sa.Float(), nullable=False),
    sa.Column('original_crs', sa.String(length=16), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('assignment', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('reporter_name', sa.String(length=100), nullable=True),
    sa.Column('reporter_phone', sa.String(length=40), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("level IN ('grid', 'community', 'street', 'district')", name='level_valid'),
    sa.CheckConstraint("state IN ('reported', 'registered', 'dispatched', 'handling', 'feedback', 'verified', 'closed', 'returned', 'postponed')", name='state_valid'),
    sa.ForeignKeyConstraint(['assignee_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['grid_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index(op.f('ix_incidents_category'), 'incidents', ['category'], unique=False)
    op.create_geospatial_index('ix_incidents_geom', 'incidents', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_incidents_grid_code'), 'incidents', ['grid_code'], unique=False)
    op.create_index(op.f('ix_incidents_grid_id'), 'incidents', ['grid_id'], unique=False)
    op.create_index(op.f('ix_incidents_plan_id'), 'incidents', ['plan_id'], unique=False)
    op.create_index(op.f('ix_incidents_state'), 'incidents', ['state'], unique=False)
    op.create_geospatial_table('service_circles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('type_code', sa.String(length=50), nullable=False),
    sa.Column('minutes', sa.Float(), nullable=True),
    sa.Column('budget_m', sa.Float(), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('buffer_m', sa.Float(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('network', sa.String(length=100), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("method IN ('network', 'euclidean')", name='method_valid'),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_code'], ['facility_types.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('facility_id', 'budget_m', name='uq_service_circles_facility_budget')
    )
    op.create_index(op.f('ix_service_circles_facility_id'), 'service_circles', ['facility_id'], unique=False)
    op.create_geospatial_index('ix_service_circles_geom', 'service_circles', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_service_circles_type_code'), 'service_circles', ['type_code'], unique=False)
    op.create_table('staff_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('building_id', sa.Integer(), nullable=True),
    sa.Column('stairwell_id', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint("role IN ('grid_head', 'building_head', 'stairwell_head', 'grid_worker', 'legal_adviser', 'health_worker', 'community_police', 'urban_inspector', 'market_inspector', 'party_member')", name='role_valid'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stairwell_id'], ['stairwells.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_assignments_community_code'), 'staff_assignments', ['community_code'], unique=False)
    op.create_index(op.f('ix_staff_assignments_grid_code'), 'staff_assignments', ['grid_code'], unique=False)
    op.create_index(op.f('ix_staff_assignments_person_id'), 'staff_assignments', ['person_id'], unique=False)
    op.create_table('incident_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_incident_events_incident_id'), 'incident_events', ['incident_id'], unique=False)
    facility_types = sa.table(
        "facility_types",
        sa.column("code", sa.String),
        sa.column("group_code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
    )
    op.bulk_insert(
        facility_types,
        [
            {"code": code, "group_code": group.value, "name_zh": zh, "name_en": en}
            for code, group, zh, en in FACILITY_TYPES
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_incident_events_incident_id'), table_name='incident_events')
    op.drop_table('incident_events')
    op.drop_index(op.f('ix_staff_assignments_person_id'), table_name='staff_assignments')
    op.drop_index(op.f('ix_staff_assignments_grid_code'), table_name='staff_assignments')
    op.drop_index(op.f('ix_staff_assignments_community_code'), table_name='staff_assignments')
    op.drop_table('staff_assignments')
    op.drop_index(op.f('ix_service_circles_type_code'), table_name='service_circles')
    op.drop_geospatial_index('ix_service_circles_geom', table_name='service_circles', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_service_circles_facility_id'), table_name='service_circles')
    op.drop_geospatial_table('service_circles')
    op.drop_index(op.f('ix_incidents_state'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_plan_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_grid_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_grid_code'), table_name='incidents')
    op.drop_geospatial_index('ix_incidents_geom', table_name='incidents', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_incidents_category'), table_name='incidents')
    op.drop_geospatial_table('incidents')
    op.drop_index(op.f('ix_stairwells_building_id'), table_name='stairwells')
    op.drop_table('stairwells')
    op.drop_index(op.f('ix_grids_plan_id'), table_name='grids')
    op.drop_geospatial_index('ix_grids_geom', table_name='grids', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_grids_community_code'), table_name='grids')
    op.drop_index(op.f('ix_grids_code'), table_name='grids')
    op.drop_geospatial_table('grids')
    op.drop_index(op.f('ix_facilities_type_code'), table_name='facilities')
    op.drop_geospatial_index('ix_facilities_geom', table_name='facilities', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_facilities_community_code'), table_name='facilities')
    op.drop_geospatial_table('facilities')
    op.drop_index(op.f('ix_street_responsibilities_street_name'), table_name='street_responsibilities')
    op.drop_geospatial_index('ix_street_responsibilities_geom', table_name='street_responsibilities', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('street_responsibilities')
    op.drop_index('ix_street_edges_network_u_v', table_name='street_edges')
    op.drop_geospatial_index('ix_street_edges_geom', table_name='street_edges', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('street_edges')
    op.drop_table('people')
    op.drop_table('grid_plans')
    op.drop_table('facility_types')
    op.drop_table('dataset_loads')
    op.drop_geospatial_index('ix_buildings_geom', table_name='buildings', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_buildings_community_code'), table_name='buildings')
    op.drop_geospatial_table('buildings')
    op.drop_index(op.f('ix_admin_areas_parent_code'), table_name='admin_areas')
    op.drop_geospatial_index('ix_admin_areas_geom', table_name='admin_areas', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_admin_areas_code'), table_name='admin_areas')
    op.drop_geospatial_table('admin_areas')
