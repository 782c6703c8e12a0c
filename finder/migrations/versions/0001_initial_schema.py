"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('website', sa.String(length=500), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization'))
    )
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_name'), ['name'], unique=False)

    op.create_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address_1', sa.String(length=200), nullable=False),
    sa.Column('address_2', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('postcode', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('latitude', sa.Double(), nullable=False),
    sa.Column('longitude', sa.Double(), nullable=False),
    sa.Column('geocode_precision', sa.String(length=20), nullable=False),
    sa.Column('geocode_source', sa.String(length=40), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('website', sa.String(length=500), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=False),
    sa.Column('services', JSON, nullable=False),
    sa.Column('conditions', JSON, nullable=False),
    sa.Column('insurance', JSON, nullable=False),
    sa.Column('languages', JSON, nullable=False),
    sa.Column('hours', JSON, nullable=False),
    sa.Column('telehealth', sa.Boolean(), nullable=False),
    sa.Column('accepting_new_patients', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'published', 'unpublished', name='status', native_enum=False, length=20), nullable=False),
    sa.Column('source', sa.Enum('import', 'self-submitted', 'nppes', 'demo', name='source', native_enum=False, length=20), nullable=False),
    sa.Column('last_verified', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner_email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_location_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
    sa.UniqueConstraint('external_id', name=op.f('uq_location_external_id'))
    )
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_location_status'), ['status'], unique=False)

    op.create_table('index_change',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_index_change_location_id_location')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_index_change'))
    )
    with op.batch_alter_table('index_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_index_change_location_id'), ['location_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('index_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_index_change_location_id'))

    op.drop_table('index_change')
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_status'))
        batch_op.drop_index(batch_op.f('ix_location_organization_id'))

    op.drop_table('location')
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_name'))

    op.drop_table('organization')
