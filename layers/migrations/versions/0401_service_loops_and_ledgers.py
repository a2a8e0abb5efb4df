"""Service loops and ledgers: 三单 orders, 微心愿 wishes, 五彩台账 building counts and person-level entries.

Revision ID: 0401
Revises: 0001
Create Date: 2026-11-25 07:33:59.985212
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = '0401'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('building_ledgers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('persons', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('resident', 'floating', 'rental', 'business', 'special_care')", name='kind_valid'),
    sa.CheckConstraint('persons >= 0 AND households >= 0 AND units >= 0', name='counts_not_negative'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('building_id', 'kind', name='uq_building_ledgers_building_kind')
    )
    op.create_index(op.f('ix_building_ledgers_building_id'), 'building_ledgers', ['building_id'], unique=False)
    op.create_geospatial_table('service_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('original_lon', sa.Float(), nullable=False),
    sa.Column('original_lat', sa.Float(), nullable=False),
    sa.Column('original_crs', sa.String(length=16), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('resident_name', sa.String(length=100), nullable=True),
    sa.Column('resident_phone', sa.String(length=40), nullable=True),
    sa.Column('resident_token', sa.String(length=64), nullable=False),
    sa.Column('dispatched_by', sa.String(length=100), nullable=True),
    sa.Column('taker_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("state IN ('placed', 'dispatched', 'taken', 'fulfilled', 'closed', 'cancelled')", name='state_valid'),
    sa.CheckConstraint('rating IS NULL OR rating BETWEEN 1 AND 5', name='rating_1_to_5'),
    sa.ForeignKeyConstraint(['taker_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resident_token')
    )
    op.create_index(op.f('ix_service_orders_category'), 'service_orders', ['category'], unique=False)
    op.create_index(op.f('ix_service_orders_community_code'), 'service_orders', ['community_code'], unique=False)
    op.create_geospatial_index('ix_service_orders_geom', 'service_orders', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_service_orders_grid_code'), 'service_orders', ['grid_code'], unique=False)
    op.create_index(op.f('ix_service_orders_state'), 'service_orders', ['state'], unique=False)
    op.create_index(op.f('ix_service_orders_taker_id'), 'service_orders', ['taker_id'], unique=False)
    op.create_table('wishes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('resident_name', sa.String(length=100), nullable=True),
    sa.Column('resident_phone', sa.String(length=40), nullable=True),
    sa.Column('claimer_id', sa.Integer(), nullable=True),
    sa.Column('claimer_unit', sa.String(length=200), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("state IN ('posted', 'claimed', 'fulfilled', 'cancelled')", name='state_valid'),
    sa.ForeignKeyConstraint(['claimer_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_wishes_claimer_id'), 'wishes', ['claimer_id'], unique=False)
    op.create_index(op.f('ix_wishes_community_code'), 'wishes', ['community_code'], unique=False)
    op.create_index(op.f('ix_wishes_grid_code'), 'wishes', ['grid_code'], unique=False)
    op.create_index(op.f('ix_wishes_state'), 'wishes', ['state'], unique=False)
    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('stairwell_id', sa.Integer(), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('person_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('resident', 'floating', 'rental', 'business', 'special_care')", name='kind_valid'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stairwell_id'], ['stairwells.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_ledger_entries_building_id'), 'ledger_entries', ['building_id'], unique=False)
    op.create_index(op.f('ix_ledger_entries_grid_code'), 'ledger_entries', ['grid_code'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ledger_entries_grid_code'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_building_id'), table_name='ledger_entries')
    op.drop_table('ledger_entries')
    op.drop_index(op.f('ix_wishes_state'), table_name='wishes')
    op.drop_index(op.f('ix_wishes_grid_code'), table_name='wishes')
    op.drop_index(op.f('ix_wishes_community_code'), table_name='wishes')
    op.drop_index(op.f('ix_wishes_claimer_id'), table_name='wishes')
    op.drop_table('wishes')
    op.drop_index(op.f('ix_service_orders_taker_id'), table_name='service_orders')
    op.drop_index(op.f('ix_service_orders_state'), table_name='service_orders')
    op.drop_index(op.f('ix_service_orders_grid_code'), table_name='service_orders')
    op.drop_geospatial_index('ix_service_orders_geom', table_name='service_orders', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_service_orders_community_code'), table_name='service_orders')
    op.drop_index(op.f('ix_service_orders_category'), table_name='service_orders')
    op.drop_geospatial_table('service_orders')
    op.drop_index(op.f('ix_building_ledgers_building_id'), table_name='building_ledgers')
    op.drop_table('building_ledgers')
