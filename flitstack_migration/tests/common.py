from flitstack_connectors.emulators.clio import ClioEmulator

from odoo.addons.queue_job.tests.common import trap_jobs

from .common_sources import SourceRunCase


class FlitstackCase(SourceRunCase):
    """A Clio connection with its default map confirmed and provisioned, and a
    fallback owner, ready to run."""

    kind = "clio"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection = cls.make_connection()
        cls.cmap = cls.connection.map_id

    @classmethod
    def serve_clio(cls, **settings):
        """An emulated Clio account for the class, the connection signed in to it."""
        cls.clio = ClioEmulator(**settings)
        cls.clio.start()
        cls.addClassCleanup(cls.clio.stop)
        token = cls.clio.issue_token()
        cls.connection.sudo().write({
            "base_url": cls.clio.base_url, "client_id": cls.clio.client_id, "client_secret": cls.clio.client_secret,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"],
        })
        return cls.clio

    def new_running_run(self, mode="full"):
        """A run in state running with the confirmed map frozen on it, without
        touching the source: for tests that call the load job directly."""
        run = self.env["flitstack.run"].create({"connection_id": self.connection.id, "mode": mode})
        run.write({"state": "running", "map_id": self.cmap.id, "spec_json": self.cmap.spec_json})
        return run

    def counts(self, run):
        return {o.map_name: (o.read_count, o.created_count, o.updated_count, o.skipped_count, o.failed_count)
                for o in run.object_ids}

    trap_jobs = staticmethod(trap_jobs)
