"""studio: process project and creator, process drafts

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowport.store.tables

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no table rebuild on SQLite.
    op.add_column('processes', sa.Column('project', sa.String(length=255), server_default='',
                                         nullable=False))
    op.add_column('processes', sa.Column('created_by', BigId, nullable=True))
    op.create_table('process_drafts',
    sa.Column('process_id', BigId, autoincrement=False, nullable=False),
    sa.Column('account_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('saved_by', sa.String(length=255), nullable=True),
    sa.Column('saved_at', flowport.store.tables.Moment(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                            name=op.f('fk_process_drafts_account_id_accounts')),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'],
                            name=op.f('fk_process_drafts_process_id_processes')),
    sa.PrimaryKeyConstraint('process_id', name=op.f('pk_process_drafts'))
    )


def downgrade() -> None:
    op.drop_table('process_drafts')
    with op.batch_alter_table('processes') as batch_op:
        batch_op.drop_column('created_by')
        batch_op.drop_column('project')
