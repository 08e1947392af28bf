import base64
import io
import json
import shutil
import tempfile
import zipfile

from odoo.tests import HttpCase, tagged

from flitstack_connectors.blueprints import KINDS, SOURCE_KINDS, schema_of
from flitstack_connectors.emulators.clientjoy_settings import write_clientjoy_settings
from flitstack_connectors.emulators.exports import write_clientjoy_export

from ..services.blueprints import RunBlueprints
from .common_sources import SourceRunCase


@tagged("post_install", "-at_install", "flitstack")
class TestBlueprints(SourceRunCase, HttpCase):
    """A small Clientjoy export with its configuration files, migrated once: the
    full run ends with its blueprints, which the run form downloads as one zip."""

    kind = "clientjoy"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-blueprints-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        manifest = write_clientjoy_export(f"{folder}/export", people=20, leads=20)
        cls.written = write_clientjoy_settings(f"{folder}/export")
        cls.create_users(manifest["known_user_emails"])
        cls.connection = cls.make_connection(export_path=manifest["path"])
        cls.run_record = cls.start_run(cls.connection)

    def archive(self, content):
        archive = zipfile.ZipFile(io.BytesIO(content))
        return {name: archive.read(name) for name in archive.namelist()}

    def test_a_full_run_ends_with_every_blueprint_of_its_source(self):
        run = self.run_record
        self.assertEqual(run.state, "done")
        files = self.archive(base64.b64decode(run.blueprints_zip))
        kinds = SOURCE_KINDS["clientjoy"]
        self.assertEqual(sorted(files), sorted(["index.json"] + [f"{k}.json" for k in kinds]
                                               + [f"schemas/{k}.schema.json" for k in kinds]))
        for kind in kinds:
            doc = KINDS[kind].model_validate_json(files[f"{kind}.json"])
            self.assertEqual([i.source_id for i in doc.items], self.written[kind])
            self.assertEqual(json.loads(files[f"schemas/{kind}.schema.json"]), schema_of(kind))
        index = json.loads(files["index.json"])
        self.assertEqual(json.loads(run.blueprints_summary), index)
        self.assertEqual([(k["kind"], k["items"]) for k in index["kinds"]],
                         [(k, len(self.written[k])) for k in kinds])
        self.assertIn("Blueprints: 4 documents, clientjoy_email_sequences (2)",
                      " ".join(run.message_ids.mapped("body")))

    def test_the_run_form_downloads_the_zip(self):
        run = self.run_record
        action = run.action_download_blueprints()
        self.assertEqual(action, {"type": "ir.actions.act_url", "url": f"/flitstack/runs/{run.id}/blueprints.zip",
                                  "target": "self"})
        self.authenticate("admin", "admin")
        answer = self.url_open(action["url"])
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.headers["Content-Type"], "application/zip")
        self.assertIn(f"flitstack-run-{run.id}-blueprints.zip", answer.headers["Content-Disposition"])
        self.assertEqual(answer.content, base64.b64decode(run.blueprints_zip))
        self.assertEqual(self.url_open(f"/flitstack/runs/{run.id + 1000}/blueprints.zip").status_code, 404)

    def test_only_administrators_download_blueprints(self):
        self.env["res.users"].create({"name": "Sales", "login": "sales.blueprints", "password": "sales.blueprints1",
                                      "groups_id": [(6, 0, [self.env.ref("sales_team.group_sale_salesman").id])]})
        self.authenticate("sales.blueprints", "sales.blueprints1")
        self.assertEqual(self.url_open(f"/flitstack/runs/{self.run_record.id}/blueprints.zip").status_code, 404)

    def test_other_runs_and_unreadable_sources_leave_the_run_as_it_is(self):
        delta = self.connection._new_run("delta")
        self.assertIsNone(RunBlueprints(delta).attach())
        self.assertFalse(delta.blueprints_zip)
        other = self.make_connection(export_path="/nonexistent/flitstack-export")
        run = other._new_run("full")
        self.assertIsNone(RunBlueprints(run).attach())
        self.assertFalse(run.blueprints_zip)
        self.assertIn("Blueprints were not read from the source", run.message_ids[0].body)
