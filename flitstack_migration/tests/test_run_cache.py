"""What a run's jobs keep between calls: the parsed map, once per process and per
version of it; and the planner statistics refreshed before the accounting work."""
import logging

from odoo.sql_db import db_connect
from odoo.tests import tagged

from ..services.accounting import refresh_statistics
from .common import FlitstackCase


@tagged("post_install", "-at_install", "flitstack")
class TestRunSpecCache(FlitstackCase):

    def test_the_map_is_parsed_once_per_version(self):
        run = self.new_running_run()
        first = run._spec()
        self.assertIs(run._spec(), first, "a second job of the run takes the map already parsed")
        # another run with the same map has its own entry
        other = self.new_running_run()
        self.assertIsNot(other._spec(), first)
        self.assertEqual(other._spec().model_dump(), first.model_dump())
        # the map written again (not flushed yet): the next call parses what was written
        spec = dict(run.spec_json)
        spec["objects"] = [o for o in spec["objects"] if o["name"] != "clio_matter"]
        run.spec_json = spec
        changed = run._spec()
        self.assertIsNot(changed, first)
        self.assertIsNone(next((om for om in changed.objects if om.name == "clio_matter"), None))
        self.assertIsNotNone(next((om for om in first.objects if om.name == "clio_matter"), None))


@tagged("post_install", "-at_install", "flitstack")
class TestPlannerStatistics(FlitstackCase):

    def reltuples(self, table):
        self.env.cr.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        return self.env.cr.fetchone()[0]

    def test_statistics_count_the_rows_of_this_transaction(self):
        run = self.new_running_run()
        self.env.cr.execute(
            "INSERT INTO flitstack_run_record (run_id, map_name, position, source_id, payload) "
            "SELECT %s, 'clio_company', n, n::text, '{}'::jsonb FROM generate_series(1, 3000) n", [run.id])
        self.env.cr.execute("SELECT count(*) FROM flitstack_run_record")
        (rows,) = self.env.cr.fetchone()
        self.assertNotEqual(self.reltuples("flitstack_run_record"), rows)
        self.env.cr.execute("SHOW lock_timeout")
        before = self.env.cr.fetchone()[0]
        refresh_statistics(self.env, ("flitstack_run_record", "no_such_table"))
        self.assertEqual(self.reltuples("flitstack_run_record"), rows)
        self.env.cr.execute("SHOW lock_timeout")
        self.assertEqual(self.env.cr.fetchone()[0], before)

    def test_a_table_locked_elsewhere_keeps_its_statistics_and_the_work_goes_on(self):
        table = "flitstack_audit_line"
        held = db_connect(self.env.cr.dbname).cursor()
        try:
            held.execute("SET lock_timeout = '10s'")
            held.execute(f'LOCK TABLE "{table}" IN SHARE UPDATE EXCLUSIVE MODE')  # what a VACUUM takes
            stats = self.reltuples(table)
            with self.assertLogs("odoo.addons.flitstack_migration.services.accounting", logging.INFO) as logs:
                refresh_statistics(self.env, (table,))
            self.assertEqual(logs.output, [f"INFO:odoo.addons.flitstack_migration.services.accounting:"
                                           f"statistics of {table} not refreshed: 55P03"])
            self.assertEqual(self.reltuples(table), stats)
            # the transaction is usable after the refused ANALYZE
            self.env.cr.execute("SELECT count(*) FROM flitstack_audit_line")
        finally:
            held.rollback()
            held.close()
