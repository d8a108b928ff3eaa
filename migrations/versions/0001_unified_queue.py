"""unified queue

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 19:24:18.629937
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'events are append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_append_only()",
]


def _append_only_events() -> None:
    dialect = op.get_bind().dialect.name
    for statement in APPEND_ONLY_POSTGRESQL if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(statement)


def upgrade() -> None:
    op.create_table('agencies',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('handles', sa.Text(), nullable=False),
    sa.Column('duty_phone', sa.String(length=32), nullable=True),
    sa.Column('duty_email', sa.String(length=200), nullable=True),
    sa.Column('head_email', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_agencies'))
    )
    op.create_table('areas',
    sa.Column('kode', sa.String(length=16), nullable=False),
    sa.Column('kecamatan', sa.String(length=64), nullable=False),
    sa.Column('kelurahan', sa.String(length=64), nullable=False),
    sa.Column('postal_code', sa.String(length=8), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('aliases', sa.Text(), nullable=False),
    sa.Column('boundary_geojson', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('kode', name=op.f('pk_areas'))
    )
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_areas_kecamatan'), ['kecamatan'], unique=False)

    op.create_table('checkpoints',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_checkpoints'))
    )
    op.create_table('citizens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['citizens.id'], name=op.f('fk_citizens_merged_into_id_citizens')),
    sa.UniqueConstraint('public_id', name=op.f('uq_citizens_public_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizens'))
    )
    op.create_table('sla_policies',
    sa.Column('policy_set', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('acknowledge_minutes', sa.Integer(), nullable=False),
    sa.Column('dispatch_minutes', sa.Integer(), nullable=False),
    sa.Column('resolve_minutes', sa.Integer(), nullable=False),
    sa.Column('calendar', sa.String(length=16), nullable=False),
    sa.Column('meaning', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('policy_set', 'priority', name=op.f('pk_sla_policies'))
    )
    op.create_table('ticket_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_ticket_counters'))
    )
    op.create_table('categories',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label_id', sa.String(length=200), nullable=False),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.Column('agency_code', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_categories_agency_code_agencies')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_categories'))
    )
    op.create_table('citizen_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_identities_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_identities')),
    sa.UniqueConstraint('kind', 'value', name=op.f('uq_citizen_identities_kind'))
    )
    with op.batch_alter_table('citizen_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizen_identities_citizen_id'), ['citizen_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('agency_code', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_users_agency_code_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('category_code', sa.String(length=32), nullable=True),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('agency_code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_raw', sa.LargeBinary(), nullable=True),
    sa.Column('location_text', sa.Text(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('kelurahan_code', sa.String(length=16), nullable=True),
    sa.Column('kecamatan', sa.String(length=64), nullable=True),
    sa.Column('raw_payload', sa.JSON(), nullable=True),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('sla_policy_set', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('status_before_wait', sa.String(length=20), nullable=True),
    sa.Column('waiting_since', sa.DateTime(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('reject_reason', sa.String(length=32), nullable=True),
    sa.Column('close_reason', sa.String(length=32), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('transfer_count', sa.Integer(), nullable=False),
    sa.Column('needs_supervisor', sa.Boolean(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('routing', sa.JSON(), nullable=True),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_reports_agency_code_agencies')),
    sa.ForeignKeyConstraint(['category_code'], ['categories.code'], name=op.f('fk_reports_category_code_categories')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_reports_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['kelurahan_code'], ['areas.kode'], name=op.f('fk_reports_kelurahan_code_areas')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['reports.id'], name=op.f('fk_reports_merged_into_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_reports_channel')),
    sa.UniqueConstraint('ticket', name=op.f('uq_reports_ticket'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_received_at'), ['received_at'], unique=False)
        batch_op.create_index('ix_reports_status_agency', ['status', 'agency_code'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('agency_code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.Column('assigned_by', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_assignments_agency_code_agencies')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_assignments_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_report_id'), ['report_id'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('path', sa.String(length=500), nullable=True),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_attachments_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_report_id'), ['report_id'], unique=False)

    op.create_table('dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_dead_letters_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dead_letters_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_dead_letters_received_at'), ['received_at'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=24), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_events_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_events_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index('ix_events_report_id_id', ['report_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_type'), ['type'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_messages_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('channel', 'direction', 'external_id', name=op.f('uq_messages_channel'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_report_id'), ['report_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.String(length=200), nullable=True),
    sa.Column('delivery_status', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_outbox_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('sla_breaches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('fell_due_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('explanation_code', sa.String(length=32), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_sla_breaches_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_breaches')),
    sa.UniqueConstraint('report_id', 'stage', 'level', name=op.f('uq_sla_breaches_report_id'))
    )
    with op.batch_alter_table('sla_breaches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_breaches_recorded_at'), ['recorded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_breaches_report_id'), ['report_id'], unique=False)

    op.create_table('sla_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('calendar', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('target_minutes', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('warn_at', sa.DateTime(), nullable=False),
    sa.Column('warned_at', sa.DateTime(), nullable=True),
    sa.Column('met_at', sa.DateTime(), nullable=True),
    sa.Column('breached_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('paused_at', sa.DateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('extended_minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_sla_clocks_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks')),
    sa.UniqueConstraint('report_id', 'stage', name=op.f('uq_sla_clocks_report_id'))
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clocks_breached_at', ['breached_at'], unique=False, sqlite_where=sa.text('breached_at IS NOT NULL'), postgresql_where=sa.text('breached_at IS NOT NULL'))
        batch_op.create_index('ix_sla_clocks_met_at', ['met_at'], unique=False, sqlite_where=sa.text('met_at IS NOT NULL'), postgresql_where=sa.text('met_at IS NOT NULL'))
        batch_op.create_index('ix_sla_clocks_open_due', ['due_at'], unique=False, sqlite_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL'), postgresql_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL'))
        batch_op.create_index('ix_sla_clocks_open_warn', ['warn_at'], unique=False, sqlite_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL'), postgresql_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL'))

    _append_only_events()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_update ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_open_warn', sqlite_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL'), postgresql_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL'))
        batch_op.drop_index('ix_sla_clocks_open_due', sqlite_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL'), postgresql_where=sa.text('met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL'))
        batch_op.drop_index('ix_sla_clocks_met_at')
        batch_op.drop_index('ix_sla_clocks_breached_at')

    op.drop_table('sla_clocks')
    with op.batch_alter_table('sla_breaches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_breaches_report_id'))
        batch_op.drop_index(batch_op.f('ix_sla_breaches_recorded_at'))

    op.drop_table('sla_breaches')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_report_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_report_id'))

    op.drop_table('messages')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_type'))
        batch_op.drop_index('ix_events_report_id_id')
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dead_letters_received_at'))
        batch_op.drop_index(batch_op.f('ix_dead_letters_channel'))

    op.drop_table('dead_letters')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_report_id'))

    op.drop_table('attachments')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_report_id'))

    op.drop_table('assignments')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_status_agency')
        batch_op.drop_index(batch_op.f('ix_reports_received_at'))
        batch_op.drop_index(batch_op.f('ix_reports_citizen_id'))

    op.drop_table('reports')
    op.drop_table('users')
    with op.batch_alter_table('citizen_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citizen_identities_citizen_id'))

    op.drop_table('citizen_identities')
    op.drop_table('categories')
    op.drop_table('ticket_counters')
    op.drop_table('sla_policies')
    op.drop_table('citizens')
    op.drop_table('checkpoints')
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_areas_kecamatan'))

    op.drop_table('areas')
    op.drop_table('agencies')
