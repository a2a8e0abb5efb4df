"""Civic participation: 六步议事 (council, topics, meetings, votes, tasks), 入户走访 (household visits),
双报到 and points (registrations, activities, the points ledger, 积分超市), 社区事项准入清单 (matter lists, flags).

The database keeps three rules itself, whatever code writes the rows:
- the points ledger never goes negative (``apply_point_entry`` + CHECK ``balance_not_negative``, entries
  append-only), and fulfilled orders / fulfilled claimed wishes earn points (``award_service_points``);
- a topic whose follow-up tasks are all closed is closed (``close_topics_when_tasks_done``);
- a new incident or order of a category outside its district's matter list is flagged
  (``flag_matter_outside_list``).

Revision ID: 0671
Revises: 0661
Create Date: 2026-12-05 00:05:03.865582
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from gis.deliberation import COUNCIL_ROLES
from gis.volunteering import POINT_RULES

revision = '0671'
down_revision = "0661"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('council_roles',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('role_group', sa.String(length=1), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('matter_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'approved', 'refused')", name='state_valid'),
    sa.CheckConstraint("subject_type IN ('incident', 'order')", name='subject_type_valid'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subject_type', 'subject_id', name='uq_matter_flags_subject')
    )
    op.create_index(op.f('ix_matter_flags_community_code'), 'matter_flags', ['community_code'], unique=False)
    op.create_index(op.f('ix_matter_flags_state'), 'matter_flags', ['state'], unique=False)
    op.create_table('matter_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=300), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=True),
    sa.Column('incident_categories', postgresql.ARRAY(sa.String(length=50)), nullable=False),
    sa.Column('order_categories', postgresql.ARRAY(sa.String(length=50)), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("district_code ~ '^[0-9]{6}$'", name='district_6_digits'),
    sa.CheckConstraint("kind IN ('statutory', 'assist', 'devolved')", name='kind_valid'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('district_code', 'kind', 'item', name='uq_matter_items')
    )
    op.create_index(op.f('ix_matter_items_district_code'), 'matter_items', ['district_code'], unique=False)
    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint('quorum >= 1', name='quorum_positive'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_meetings_community_code'), 'meetings', ['community_code'], unique=False)
    op.create_table('point_rules',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('kind')
    )
    op.create_table('rewards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cost', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint('cost >= 1', name='cost_positive'),
    sa.CheckConstraint('stock >= 0', name='stock_not_negative'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rewards_community_code'), 'rewards', ['community_code'], unique=False)
    op.create_table('topics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('proposer_name', sa.String(length=100), nullable=True),
    sa.Column('proposer_phone', sa.String(length=40), nullable=True),
    sa.Column('incident_ids', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("origin IN ('resident', 'grid_staff', 'incident_cluster')", name='origin_valid'),
    sa.CheckConstraint("step IN ('collecting', 'accepted', 'researching', 'deliberating', 'publicised', 'implementing', 'closed', 'rejected')", name='step_valid'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_topics_community_code'), 'topics', ['community_code'], unique=False)
    op.create_index('ix_topics_geom', 'topics', ['geom'], unique=False, postgresql_using='gist')
    op.create_index(op.f('ix_topics_grid_code'), 'topics', ['grid_code'], unique=False)
    op.create_index(op.f('ix_topics_step'), 'topics', ['step'], unique=False)
    op.create_table('volunteer_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint('capacity >= 1', name='capacity_positive'),
    sa.CheckConstraint('ends_at > starts_at', name='ends_after_start'),
    sa.CheckConstraint('points >= 0', name='points_not_negative'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_volunteer_activities_community_code'), 'volunteer_activities', ['community_code'], unique=False)
    op.create_table('council_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['role'], ['council_roles.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_council_members_community_code'), 'council_members', ['community_code'], unique=False)
    op.create_table('meeting_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('present', sa.Integer(), nullable=False),
    sa.Column('votes_for', sa.Integer(), nullable=False),
    sa.Column('votes_against', sa.Integer(), nullable=False),
    sa.Column('votes_abstain', sa.Integer(), nullable=False),
    sa.Column('quorate', sa.Boolean(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('voted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('notice_from', sa.Date(), nullable=True),
    sa.Column('notice_until', sa.Date(), nullable=True),
    sa.CheckConstraint('votes_for + votes_against + votes_abstain <= present', name='ballots_within_present'),
    sa.CheckConstraint('votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0', name='votes_not_negative'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('meeting_id', 'topic_id', name='uq_meeting_items')
    )
    op.create_index(op.f('ix_meeting_items_meeting_id'), 'meeting_items', ['meeting_id'], unique=False)
    op.create_index(op.f('ix_meeting_items_topic_id'), 'meeting_items', ['topic_id'], unique=False)
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=50), nullable=True),
    sa.Column('organisation', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('organisation', 'party_member')", name='kind_valid'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_registrations_community_code'), 'registrations', ['community_code'], unique=False)
    op.create_index(op.f('ix_registrations_grid_code'), 'registrations', ['grid_code'], unique=False)
    op.create_index(op.f('ix_registrations_person_id'), 'registrations', ['person_id'], unique=False)
    op.create_index(op.f('ix_registrations_username'), 'registrations', ['username'], unique=False)
    op.create_table('topic_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('added_by', sa.String(length=100), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("url ~* '^https?://'", name='url_http'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_topic_attachments_topic_id'), 'topic_attachments', ['topic_id'], unique=False)
    op.create_table('topic_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('from_step', sa.String(length=16), nullable=True),
    sa.Column('to_step', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_topic_steps_topic_id'), 'topic_steps', ['topic_id'], unique=False)
    op.create_table('activity_signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('signed_up_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attended', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['volunteer_activities.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_id', 'registration_id', name='uq_activity_signups')
    )
    op.create_index(op.f('ix_activity_signups_activity_id'), 'activity_signups', ['activity_id'], unique=False)
    op.create_index(op.f('ix_activity_signups_registration_id'), 'activity_signups', ['registration_id'], unique=False)
    op.create_table('household_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('stairwell_id', sa.Integer(), nullable=True),
    sa.Column('household', sa.String(length=40), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=False),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('visitor', sa.String(length=100), nullable=False),
    sa.Column('knows', postgresql.ARRAY(sa.String(length=16)), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.CheckConstraint("household <> ''", name='household_not_empty'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stairwell_id'], ['stairwells.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_household_visits_building_id'), 'household_visits', ['building_id'], unique=False)
    op.create_index(op.f('ix_household_visits_grid_code'), 'household_visits', ['grid_code'], unique=False)
    op.create_index(op.f('ix_household_visits_visited_on'), 'household_visits', ['visited_on'], unique=False)
    op.create_table('meeting_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['council_members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('meeting_id', 'member_id', name='uq_meeting_participants')
    )
    op.create_index(op.f('ix_meeting_participants_meeting_id'), 'meeting_participants', ['meeting_id'], unique=False)
    op.create_table('point_accounts',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('balance', sa.Integer(), nullable=False),
    sa.Column('earned', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('balance >= 0', name='balance_not_negative'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id')
    )
    op.create_table('point_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('balance_after', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('order', 'wish', 'activity', 'redeem', 'adjust')", name='kind_valid'),
    sa.CheckConstraint('delta <> 0', name='delta_not_zero'),
    sa.CheckConstraint('length(btrim(reason)) > 0', name='reason_given'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registration_id', 'kind', 'ref_id', name='uq_point_entries_once')
    )
    op.create_index(op.f('ix_point_entries_registration_id'), 'point_entries', ['registration_id'], unique=False)
    op.create_table('redemptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['point_entries.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entry_id')
    )
    op.create_index(op.f('ix_redemptions_registration_id'), 'redemptions', ['registration_id'], unique=False)
    op.create_index(op.f('ix_redemptions_reward_id'), 'redemptions', ['reward_id'], unique=False)
    op.create_table('topic_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('(incident_id IS NULL) <> (order_id IS NULL)', name='one_link'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['service_orders.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('topic_id', 'incident_id', 'order_id', name='uq_topic_tasks',
                        postgresql_nulls_not_distinct=True)
    )
    op.create_index(op.f('ix_topic_tasks_incident_id'), 'topic_tasks', ['incident_id'], unique=False)
    op.create_index(op.f('ix_topic_tasks_order_id'), 'topic_tasks', ['order_id'], unique=False)
    op.create_index(op.f('ix_topic_tasks_topic_id'), 'topic_tasks', ['topic_id'], unique=False)
    op.create_table('visit_follow_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('ledger_kind', sa.String(length=32), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.CheckConstraint("kind IN ('incident', 'order', 'ledger')", name='kind_valid'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['service_orders.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['household_visits.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_visit_follow_ups_visit_id'), 'visit_follow_ups', ['visit_id'], unique=False)
    _seed()
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS:
        op.execute(statement)
    op.drop_index(op.f('ix_visit_follow_ups_visit_id'), table_name='visit_follow_ups')
    op.drop_table('visit_follow_ups')
    op.drop_index(op.f('ix_topic_tasks_topic_id'), table_name='topic_tasks')
    op.drop_index(op.f('ix_topic_tasks_order_id'), table_name='topic_tasks')
    op.drop_index(op.f('ix_topic_tasks_incident_id'), table_name='topic_tasks')
    op.drop_table('topic_tasks')
    op.drop_index(op.f('ix_redemptions_reward_id'), table_name='redemptions')
    op.drop_index(op.f('ix_redemptions_registration_id'), table_name='redemptions')
    op.drop_table('redemptions')
    op.drop_index(op.f('ix_point_entries_registration_id'), table_name='point_entries')
    op.drop_table('point_entries')
    op.drop_table('point_accounts')
    op.drop_index(op.f('ix_meeting_participants_meeting_id'), table_name='meeting_participants')
    op.drop_table('meeting_participants')
    op.drop_index(op.f('ix_household_visits_visited_on'), table_name='household_visits')
    op.drop_index(op.f('ix_household_visits_grid_code'), table_name='household_visits')
    op.drop_index(op.f('ix_household_visits_building_id'), table_name='household_visits')
    op.drop_table('household_visits')
    op.drop_index(op.f('ix_activity_signups_registration_id'), table_name='activity_signups')
    op.drop_index(op.f('ix_activity_signups_activity_id'), table_name='activity_signups')
    op.drop_table('activity_signups')
    op.drop_index(op.f('ix_topic_steps_topic_id'), table_name='topic_steps')
    op.drop_table('topic_steps')
    op.drop_index(op.f('ix_topic_attachments_topic_id'), table_name='topic_attachments')
    op.drop_table('topic_attachments')
    op.drop_index(op.f('ix_registrations_username'), table_name='registrations')
    op.drop_index(op.f('ix_registrations_person_id'), table_name='registrations')
    op.drop_index(op.f('ix_registrations_grid_code'), table_name='registrations')
    op.drop_index(op.f('ix_registrations_community_code'), table_name='registrations')
    op.drop_table('registrations')
    op.drop_index(op.f('ix_meeting_items_topic_id'), table_name='meeting_items')
    op.drop_index(op.f('ix_meeting_items_meeting_id'), table_name='meeting_items')
    op.drop_table('meeting_items')
    op.drop_index(op.f('ix_council_members_community_code'), table_name='council_members')
    op.drop_table('council_members')
    op.drop_index(op.f('ix_volunteer_activities_community_code'), table_name='volunteer_activities')
    op.drop_table('volunteer_activities')
    op.drop_index(op.f('ix_topics_step'), table_name='topics')
    op.drop_index(op.f('ix_topics_grid_code'), table_name='topics')
    op.drop_index('ix_topics_geom', table_name='topics', postgresql_using='gist')
    op.drop_index(op.f('ix_topics_community_code'), table_name='topics')
    op.drop_table('topics')
    op.drop_index(op.f('ix_rewards_community_code'), table_name='rewards')
    op.drop_table('rewards')
    op.drop_table('point_rules')
    op.drop_index(op.f('ix_meetings_community_code'), table_name='meetings')
    op.drop_table('meetings')
    op.drop_index(op.f('ix_matter_items_district_code'), table_name='matter_items')
    op.drop_table('matter_items')
    op.drop_index(op.f('ix_matter_flags_state'), table_name='matter_flags')
    op.drop_index(op.f('ix_matter_flags_community_code'), table_name='matter_flags')
    op.drop_table('matter_flags')
    op.drop_table('council_roles')


def _seed() -> None:
    roles = sa.table("council_roles", sa.column("code", sa.String), sa.column("role_group", sa.String),
                     sa.column("name_zh", sa.String), sa.column("name_en", sa.String))
    op.bulk_insert(roles, [{"code": r.code, "role_group": r.group, "name_zh": r.zh, "name_en": r.en}
                           for r in COUNCIL_ROLES])
    rules = sa.table("point_rules", sa.column("kind", sa.String), sa.column("points", sa.Integer),
                     sa.column("reason", sa.Text))
    op.bulk_insert(rules, [{"kind": r.kind.value, "points": r.points, "reason": r.reason} for r in POINT_RULES])


TRIGGERS = [
    # -- the points ledger: each entry is applied to its account row (locked by the UPDATE, so concurrent
    #    redemptions queue); the CHECK on point_accounts.balance refuses an overdraft and the entry with it.
    """
    CREATE FUNCTION apply_point_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO point_accounts (registration_id, balance, earned, updated_at)
        VALUES (NEW.registration_id, 0, 0, now()) ON CONFLICT (registration_id) DO NOTHING;
        UPDATE point_accounts
           SET balance = balance + NEW.delta,
               earned = earned + CASE WHEN NEW.kind IN ('order', 'wish', 'activity') AND NEW.delta > 0
                                      THEN NEW.delta ELSE 0 END,
               updated_at = now()
         WHERE registration_id = NEW.registration_id
        RETURNING balance INTO NEW.balance_after;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER apply_point_entry BEFORE INSERT ON point_entries FOR EACH ROW EXECUTE FUNCTION apply_point_entry()",
    """
    CREATE FUNCTION point_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND current_setting('gridmap.purge_ledger', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION '积分流水只能追加，不能修改或删除 (point entries are append-only)'
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    "CREATE TRIGGER point_entries_append_only BEFORE UPDATE OR DELETE ON point_entries "
    "FOR EACH ROW EXECUTE FUNCTION point_entries_append_only()",
    # -- points for services: a fulfilled order (its taker) or a fulfilled claimed wish (its claimer), once,
    #    to that person's Party-member registration; the amount and reason come from point_rules.
    """
    CREATE FUNCTION award_service_points() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_person integer;
        v_kind text;
    BEGIN
        IF NEW.state <> 'fulfilled' OR OLD.state = 'fulfilled' THEN
            RETURN NEW;
        END IF;
        IF TG_TABLE_NAME = 'service_orders' THEN
            v_person := NEW.taker_id; v_kind := 'order';
        ELSE
            v_person := NEW.claimer_id; v_kind := 'wish';
        END IF;
        IF v_person IS NULL THEN
            RETURN NEW;
        END IF;
        INSERT INTO point_entries (registration_id, kind, delta, reason, ref_id, actor)
        SELECT r.id, v_kind, pr.points, pr.reason || ' #' || NEW.id, NEW.id, 'system:points'
          FROM registrations r JOIN point_rules pr ON pr.kind = v_kind
         WHERE r.person_id = v_person AND r.kind = 'party_member' AND pr.points > 0
           AND NOT EXISTS (SELECT 1 FROM point_entries e WHERE e.registration_id = r.id
                           AND e.kind = v_kind AND e.ref_id = NEW.id)
         ORDER BY r.id LIMIT 1;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER award_order_points AFTER UPDATE OF state ON service_orders "
    "FOR EACH ROW EXECUTE FUNCTION award_service_points()",
    "CREATE TRIGGER award_wish_points AFTER UPDATE OF state ON wishes "
    "FOR EACH ROW EXECUTE FUNCTION award_service_points()",
    # -- 研究落实: a topic is done when every task's incident is closed and every task's order fulfilled/closed
    """
    CREATE FUNCTION topic_tasks_done(p_topic integer) RETURNS boolean LANGUAGE sql STABLE AS $$
        SELECT NOT EXISTS (
            SELECT 1 FROM topic_tasks k
              LEFT JOIN incidents i ON i.id = k.incident_id
              LEFT JOIN service_orders o ON o.id = k.order_id
             WHERE k.topic_id = p_topic
               AND NOT (k.incident_id IS NOT NULL AND i.state = 'closed'
                        OR k.order_id IS NOT NULL AND o.state IN ('fulfilled', 'closed')))
    $$
    """,
    """
    CREATE FUNCTION close_topics_when_tasks_done() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
            RETURN NEW;
        END IF;
        WITH moved AS (
            UPDATE topics t SET step = 'closed', updated_at = now()
             WHERE t.step = 'implementing'
               AND t.id IN (SELECT k.topic_id FROM topic_tasks k
                             WHERE (TG_TABLE_NAME = 'incidents' AND k.incident_id = NEW.id)
                                OR (TG_TABLE_NAME = 'service_orders' AND k.order_id = NEW.id))
               AND topic_tasks_done(t.id)
            RETURNING t.id)
        INSERT INTO topic_steps (topic_id, from_step, to_step, actor, note, at)
        SELECT id, 'implementing', 'closed', 'system:tasks',
               '全部落实任务已办结 (every follow-up task is closed)', now() FROM moved;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER close_topics_on_incident AFTER UPDATE OF state ON incidents "
    "FOR EACH ROW EXECUTE FUNCTION close_topics_when_tasks_done()",
    "CREATE TRIGGER close_topics_on_order AFTER UPDATE OF state ON service_orders "
    "FOR EACH ROW EXECUTE FUNCTION close_topics_when_tasks_done()",
    # -- 事项准入: outside the list = the district has a list and no item covers the category
    """
    CREATE FUNCTION matter_outside_list(p_type text, p_community text, p_category text)
    RETURNS boolean LANGUAGE sql STABLE AS $$
        SELECT EXISTS (SELECT 1 FROM matter_items WHERE district_code = left(p_community, 6))
           AND NOT EXISTS (SELECT 1 FROM matter_items
                            WHERE district_code = left(p_community, 6)
                              AND p_category = ANY(CASE WHEN p_type = 'incident' THEN incident_categories
                                                        ELSE order_categories END))
    $$
    """,
    """
    CREATE FUNCTION flag_matter_outside_list() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_type text;
        v_community text;
    BEGIN
        IF TG_TABLE_NAME = 'incidents' THEN
            v_type := 'incident'; v_community := left(NEW.grid_code, 12);
        ELSE
            v_type := 'order'; v_community := NEW.community_code;
        END IF;
        IF v_community IS NOT NULL AND matter_outside_list(v_type, v_community, NEW.category) THEN
            INSERT INTO matter_flags (subject_type, subject_id, community_code, category, state, flagged_at)
            VALUES (v_type, NEW.id, v_community, NEW.category, 'pending', now())
            ON CONFLICT ON CONSTRAINT uq_matter_flags_subject DO NOTHING;
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER flag_incident_matter AFTER INSERT ON incidents "
    "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()",
    "CREATE TRIGGER flag_order_matter AFTER INSERT ON service_orders "
    "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()",
]

DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS flag_order_matter ON service_orders",
    "DROP TRIGGER IF EXISTS flag_incident_matter ON incidents",
    "DROP FUNCTION IF EXISTS flag_matter_outside_list()",
    "DROP FUNCTION IF EXISTS matter_outside_list(text, text, text)",
    "DROP TRIGGER IF EXISTS close_topics_on_order ON service_orders",
    "DROP TRIGGER IF EXISTS close_topics_on_incident ON incidents",
    "DROP FUNCTION IF EXISTS close_topics_when_tasks_done()",
    "DROP FUNCTION IF EXISTS topic_tasks_done(integer)",
    "DROP TRIGGER IF EXISTS award_wish_points ON wishes",
    "DROP TRIGGER IF EXISTS award_order_points ON service_orders",
    "DROP FUNCTION IF EXISTS award_service_points()",
    "DROP TRIGGER IF EXISTS point_entries_append_only ON point_entries",
    "DROP FUNCTION IF EXISTS point_entries_append_only()",
    "DROP TRIGGER IF EXISTS apply_point_entry ON point_entries",
    "DROP FUNCTION IF EXISTS apply_point_entry()",
]
