from datetime import timedelta

from odoo.tests import tagged

from .common import FlitstackCase


@tagged("post_install", "-at_install", "flitstack")
class TestDeltaCron(FlitstackCase):
    """The scheduled action starts delta runs for the connections that ask for them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=30, matters=12, rate_limit=1000, rate_window=60.0)

    def run_full(self):
        run = self.connection._new_run("full")
        with self.trap_jobs() as trap:
            run.action_start()
            self.run_jobs(trap)
        self.assertEqual(run.state, "done", run.error)
        return run

    def test_cron_enqueues_a_delta_run_only_for_enabled_idle_connections(self):
        cron = self.env.ref("flitstack_migration.ir_cron_flitstack_delta")
        self.assertEqual((cron.interval_number, cron.interval_type, cron.active), (1, "hours", True))
        # nothing to pick up before a full run has finished
        self.connection.delta_enabled = True
        with self.trap_jobs() as trap:
            self.env["flitstack.connection"]._cron_delta_runs()
            trap.assert_jobs_count(0)
        full = self.run_full()

        # disabled connection: no run
        self.connection.delta_enabled = False
        with self.trap_jobs() as trap:
            self.env["flitstack.connection"]._cron_delta_runs()
            trap.assert_jobs_count(0)
        self.assertEqual(self.connection.run_ids, full)

        # enabled: one delta run, its first extraction enqueued
        self.connection.delta_enabled = True
        with self.trap_jobs() as trap:
            self.env["flitstack.connection"]._cron_delta_runs()
            delta = self.connection.run_ids - full
            self.assertEqual((len(delta), delta.mode, delta.state), (1, "delta", "running"))
            self.assertEqual(delta.since, full.extract_started_at.replace(microsecond=0)
                             - timedelta(seconds=300))
            trap.assert_jobs_count(1)
            trap.assert_enqueued_job(delta._job_extract, args=(0,))
            # while it runs, the next tick starts nothing
            self.env["flitstack.connection"]._cron_delta_runs()
            trap.assert_jobs_count(1)
            self.run_jobs(trap)
        self.assertEqual(delta.state, "done", delta.error)
        self.assertEqual(sum(delta.object_ids.mapped("created_count")), 0)
        self.assertEqual(sum(delta.object_ids.mapped("updated_count")), 0)
