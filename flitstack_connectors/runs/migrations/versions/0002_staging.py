"""Each source object read once per run: its extraction's cursor, and the planned records
it staged for every object map that reads it (purged when the run ends).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extractions",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("source_object", sa.String(200), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("records_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "staged_records",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("map_name", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("staged_records")
    op.drop_table("extractions")
