from odoo.tests.common import TransactionCase

from odoo.addons.queue_job.tests.common import trap_jobs


class FlitstackCase(TransactionCase):
    """A Clio connection with its default map confirmed and provisioned, and a
    fallback owner, ready to run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.fallback_user = cls.env["res.users"].create({
            "name": "Fallback Owner", "login": "fallback.owner@firm.example", "email": "fallback.owner@firm.example"})
        cls.connection = cls.env["flitstack.connection"].create({
            "name": "Test Clio", "kind": "clio", "state": "connected", "fallback_user_id": cls.fallback_user.id,
        })
        cls.cmap = cls.connection._ensure_map()
        cls.cmap.action_provision_fields()
        cls.cmap.action_confirm()

    def new_running_run(self, mode="full"):
        """A run in state running with the confirmed map frozen on it, without
        touching the source: for tests that call the load job directly."""
        run = self.env["flitstack.run"].create({"connection_id": self.connection.id, "mode": mode})
        run.write({"state": "running", "map_id": self.cmap.id, "spec_json": self.cmap.spec_json})
        return run

    @staticmethod
    def run_jobs(trap):
        """Perform trapped jobs until none is left (jobs enqueue further jobs)."""
        rounds = 0
        while trap.enqueued_jobs:
            trap.perform_enqueued_jobs()
            rounds += 1
            assert rounds < 1000, "jobs keep enqueuing jobs"

    def counts(self, run):
        return {o.map_name: (o.read_count, o.created_count, o.updated_count, o.skipped_count, o.failed_count)
                for o in run.object_ids}

    trap_jobs = staticmethod(trap_jobs)
