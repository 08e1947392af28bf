"""The state store's first schema: connections, map versions, runs, counts, id map, audit lines.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_kind", sa.String(40), nullable=False),
        sa.Column("source_url", sa.String(500), nullable=False),
        sa.Column("destination", sa.String(40), nullable=False),
        sa.Column("destination_url", sa.String(500), nullable=False),
        sa.Column("tenant", sa.String(200)),
        sa.Column("client_id", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source_kind", "source_url", "destination", "destination_url", name="uq_connection"),
    )
    op.create_table(
        "map_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("confirmed_by", sa.String(200)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("connection_id", "digest", name="uq_map_digest"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("map_version_id", sa.Integer, sa.ForeignKey("map_versions.id"), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.Column("fallback_owner", sa.String(200)),
        sa.Column("pid", sa.Integer),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("rolled_back_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "run_counts",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("map_name", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("table_name", sa.String(100), nullable=False),
        sa.Column("read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "id_map",
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"), primary_key=True),
        sa.Column("identity", sa.String(200), primary_key=True),
        sa.Column("source_id", sa.String(200), primary_key=True),
        sa.Column("table_name", sa.String(100), nullable=False),
        sa.Column("guid", sa.String(36)),
        sa.Column("hash", sa.String(64)),
        sa.Column("run_id", sa.Integer),
    )
    op.create_table(
        "audit_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("map_name", sa.String(200), nullable=False),
        sa.Column("identity", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(100), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("guid", sa.String(36)),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("old_values", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_run_map", "audit_lines", ["run_id", "map_name", "source_id"])


def downgrade() -> None:
    for name in ("audit_lines", "id_map", "run_counts", "runs", "map_versions", "connections"):
        op.drop_table(name)
