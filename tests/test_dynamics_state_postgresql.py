"""The state store by PostgreSQL URL (``--state postgresql://...``), as teams run it:
a throw-away database on the local PostgreSQL, created here and dropped at the end;
skipped, saying why, where no PostgreSQL answers."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from flitstack_connectors.errors import ConfigurationError
from flitstack_connectors.runs.rollback import rollback_run
from flitstack_connectors.runs.store import StateStore, state_url

from test_dynamics_migration import open_migration
from test_dynamics_whole_account import TABLES, account, environment, expected, landed, rows_by_key, run

#: the server to create the database on; the local socket unless FLITSTACK_TEST_POSTGRESQL says otherwise
SERVER = os.environ.get("FLITSTACK_TEST_POSTGRESQL", "postgresql:///postgres")


@pytest.fixture
def postgresql_url():
    name = f"fs_dyn_state_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(state_url(SERVER), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except (sa.exc.OperationalError, ConfigurationError) as exc:
        pytest.skip(f"no PostgreSQL answers at {SERVER} ({type(exc).__name__}); set FLITSTACK_TEST_POSTGRESQL to a "
                    f"server URL whose role may create databases to run this test")
    url = sa.engine.make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_migration_keeps_its_state_in_postgresql_and_rolls_back_from_it(clio_factory, tmp_path, postgresql_url):
    clio = account(clio_factory, 60, 40)
    with environment(clio) as dv:
        before = dv.snapshot()
        mig, client = open_migration(clio, dv, tmp_path, state=postgresql_url)
        report = run(mig)
        want = expected(clio)
        assert report["reconciled"]
        for table, maps in TABLES.items():
            assert set(rows_by_key(dv, table)) == landed(want, table, maps), table
        # what the run kept is in PostgreSQL: a second store on the same URL sees it
        other = StateStore(postgresql_url)
        assert other.engine.dialect.name == "postgresql"
        assert [r["id"] for r in other.runs()] == [report["run"]]
        assert len(other.lines(report["run"])) == report["totals"]["read"]
        again = run(mig)
        assert again["totals"]["created"] == again["totals"]["updated"] == 0
        rollback_run(other, client, again["run"], key_column=mig.key_column)
        rollback_run(other, client, report["run"], key_column=mig.key_column)
        assert dv.snapshot() == before
        other.engine.dispose()
        mig.store.engine.dispose()
