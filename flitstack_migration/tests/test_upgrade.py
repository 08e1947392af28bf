from odoo.modules.migration import load_script
from odoo.modules.module import get_module_path
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

#: the channel of each job function, as data/queue_job_data.xml gives it
CHANNELS = {
    "_job_extract": "root.flitstack.read",
    "_job_blueprints": "root.flitstack.read",
    "_job_load_batch": "root.flitstack.load",
    "_job_dispatch": "root.flitstack",
    "_job_close": "root.flitstack",
    "_job_finish": "root.flitstack",
    "_job_rollback": "root.flitstack",
}


@tagged("post_install", "-at_install", "flitstack")
class TestUpgrade(TransactionCase):
    """An install older than 18.0.1.1.0 had every job on root.flitstack; the job
    functions are noupdate data, so the upgrade's migration script sets them."""

    def job_functions(self):
        functions = self.env["queue.job.function"].search([("model_id.model", "=", "flitstack.run")])
        return {f.method: (f.channel_id.complete_name, f.retry_pattern) for f in functions}

    def test_upgrade_from_one_channel_puts_reads_and_loads_on_theirs(self):
        installed = self.job_functions()
        self.assertEqual({m: c for m, (c, _p) in installed.items()}, CHANNELS)
        # what 18.0.1.0.0 left: one channel for every job, another retry pattern for loads
        flitstack = self.env.ref("flitstack_migration.channel_flitstack")
        functions = self.env["queue.job.function"].search([("model_id.model", "=", "flitstack.run")])
        functions.write({"channel_id": flitstack.id})
        functions.filtered(lambda f: f.method == "_job_load_batch").write({"retry_pattern": {1: 5}})
        self.env.ref("flitstack_migration.channel_flitstack_read").unlink()
        self.env.ref("flitstack_migration.channel_flitstack_load").unlink()
        self.assertEqual({m: c for m, (c, _p) in self.job_functions().items()},
                         dict.fromkeys(CHANNELS, "root.flitstack"))

        path = get_module_path("flitstack_migration") + "/migrations/18.0.1.1.0/post-migration.py"
        load_script(path, "flitstack_migration_post_18_0_1_1_0").migrate(self.env.cr, "18.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual(self.job_functions(), installed)
        # still noupdate: a later upgrade keeps what an administrator tunes
        data = self.env["ir.model.data"].search([("module", "=", "flitstack_migration"),
                                                 ("model", "=", "queue.job.function")])
        self.assertEqual(len(data), len(CHANNELS))
        self.assertEqual(set(data.mapped("noupdate")), {True})

    def test_a_new_install_runs_no_migration(self):
        path = get_module_path("flitstack_migration") + "/migrations/18.0.1.1.0/post-migration.py"
        functions = self.env["queue.job.function"].search([("model_id.model", "=", "flitstack.run")])
        functions.write({"retry_pattern": {1: 5}})
        tuned = self.job_functions()
        load_script(path, "flitstack_migration_post_18_0_1_1_0").migrate(self.env.cr, False)
        self.env.invalidate_all()
        self.assertEqual(self.job_functions(), tuned)
