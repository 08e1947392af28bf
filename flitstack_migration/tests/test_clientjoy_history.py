"""Clientjoy activities with their original dates and owners, and nothing sent.

Calls, emails and notes land as dated notes on their lead's opportunity, meetings as
calendar events, tasks as project tasks where Project is installed and as To-Do
activities where it is not (the other map of the pair reports them as not migrated by
it, so that reconciliation closes either way).  Run it on a database with ``project``
and on one without.
"""
import mimetypes
import shutil
import tempfile

from odoo import fields

from flitstack_connectors.emulators.exports import write_clientjoy_export
from flitstack_connectors.mapping.transforms import to_datetime
from flitstack_connectors.sources.clientjoy import ClientjoySource

from odoo.tests import tagged

from .common_sources import SourceRunCase

COUNTED = ("calendar.event", "calendar.attendee", "mail.activity", "mail.message", "mail.followers", "mail.mail",
           "mail.notification", "project.task", "ir.model.data", "ir.attachment")
HISTORY_MAPS = ("clientjoy_activity", "clientjoy_meeting", "clientjoy_task", "clientjoy_task_activity",
                "clientjoy_appointment", "clientjoy_file_lead", "clientjoy_file_client")


@tagged("post_install", "-at_install", "flitstack")
class TestClientjoyHistory(SourceRunCase):

    kind = "clientjoy"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-clientjoy-history-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.manifest = write_clientjoy_export(f"{folder}/export", people=80, leads=160)
        cls.owner_users = {email: cls.create_users([email]) for email in cls.manifest["known_user_emails"]}
        cls.connection = cls.make_connection(export_path=cls.manifest["path"])
        source = ClientjoySource(cls.manifest["path"])
        cls.owners = {r.source_id: cls.owner_users.get(r.data["email"], cls.fallback_user)
                      for r in source.read("owners")}
        cls.activities = [r.data for r in source.read("activities")]
        cls.appointments = [r.data for r in source.read("appointments")]
        cls.files = [r.data for r in source.read("files")]
        cls.clients = {r.source_id: r.data for r in source.read("clients")}
        cls.export_files = source.files_of_export

    def table_counts(self):
        own = {"mail.message": [("model", "not like", "flitstack.%")],
               "mail.followers": [("res_model", "not like", "flitstack.%")]}
        return {m: self.env[m].sudo().with_context(active_test=False).search_count(own.get(m, []))
                for m in COUNTED if m in self.env}

    def landed(self, identity, source_id):
        return self.env.ref(f"{self.connection.xmlid_module}.{identity}_{source_id}")

    def lead(self, lead_id):
        return self.landed("leads", lead_id)

    def test_activities_land_dated_by_their_owner_send_nothing_and_roll_back(self):
        before = self.table_counts()
        sent = []
        mail_server = type(self.env["ir.mail_server"])
        original_send = mail_server.send_email

        def counting_send(server, *args, **kwargs):
            sent.append(1)
            return original_send(server, *args, **kwargs)

        self.patch(mail_server, "send_email", counting_send)
        by_type = {}
        for a in self.activities:
            by_type.setdefault(a["type"], []).append(a)
        self.assertEqual(sorted(by_type), ["call", "email", "meeting", "note", "task"])
        notes = by_type["call"] + by_type["email"] + by_type["note"]
        meetings, tasks = by_type["meeting"], by_type["task"]
        has_project = "project.task" in self.env

        first = self.start_run(self.connection)
        self.assert_closes(first)
        counts = self.counts(first)
        n_notes, n_meetings, n_tasks = len(notes), len(meetings), len(tasks)
        n_bookings = len(self.appointments)
        on_leads = [f for f in self.files if f["lead_id"]]
        on_clients = [f for f in self.files if not f["lead_id"]]
        self.assertEqual((n_bookings, len(on_leads), len(on_clients)), (16, 3, 3))
        self.assertEqual({m: counts[m] for m in HISTORY_MAPS}, {
            "clientjoy_appointment": (n_bookings, n_bookings, 0, 0, 0),
            "clientjoy_file_lead": (3, 3, 0, 0, 0), "clientjoy_file_client": (3, 3, 0, 0, 0),
            "clientjoy_activity": (n_notes, n_notes, 0, 0, 0), "clientjoy_meeting": (n_meetings, n_meetings, 0, 0, 0),
            "clientjoy_task": (n_tasks, n_tasks, 0, 0, 0) if has_project else (n_tasks, 0, 0, n_tasks, 0),
            "clientjoy_task_activity": (n_tasks, 0, 0, n_tasks, 0) if has_project else (n_tasks, n_tasks, 0, 0, 0)})
        skipped = self.lines(first, "clientjoy_task_activity" if has_project else "clientjoy_task", "skip")
        self.assertEqual(
            {l.message for l in skipped.values()},
            {"not migrated by this map: project.task is installed, and another map lands these records there"}
            if has_project else
            {"not migrated: project.task is not installed in this database; install its app and run again to "
             "migrate these records"})

        after = self.table_counts()
        self.assertEqual((after["mail.mail"], after["mail.notification"], sent),
                         (before["mail.mail"], before["mail.notification"], []))
        self.assertEqual(after["mail.message"] - before["mail.message"], n_notes)
        self.assertEqual(after["calendar.event"] - before["calendar.event"], n_meetings + n_bookings)
        self.assertEqual(after["ir.attachment"] - before["ir.attachment"], len(self.files))
        self.assertEqual(after["mail.activity"] - before["mail.activity"], 0 if has_project else n_tasks)

        note = self.env.ref("mail.mt_note")
        types = {"call": self.env.ref("mail.mail_activity_data_call"),
                 "email": self.env.ref("mail.mail_activity_data_email"), "note": self.env["mail.activity.type"]}
        wrong = []
        for a in notes:
            msg = self.landed("activities", a["id"])
            got = (msg.model, msg.res_id, fields.Datetime.to_string(msg.date), msg.author_id, msg.subject,
                   msg.message_type, msg.mail_activity_type_id, msg.subtype_id)
            want = ("crm.lead", self.lead(a["lead_id"]).id, to_datetime(a["date"]),
                    self.owners[a["owner_id"]].partner_id, a["subject"], "email" if a["type"] == "email" else "comment",
                    types[a["type"]], note)
            if got != want:
                wrong.append((a["id"], got, want))
        for a in meetings:
            event = self.landed("activities", a["id"])
            owner = self.owners[a["owner_id"]]
            got = (event.name, fields.Datetime.to_string(event.start), fields.Datetime.to_string(event.stop),
                   event.opportunity_id, event.user_id, event.partner_ids, event.attendee_ids.partner_id,
                   event.activity_ids)
            want = (a["subject"], to_datetime(a["date"]), to_datetime(a["ends_at"]), self.lead(a["lead_id"]), owner,
                    owner.partner_id, owner.partner_id, self.env["mail.activity"])
            if got != want:
                wrong.append((a["id"], got, want))
        for a in tasks:
            owner = self.owners[a["owner_id"]]
            if has_project:
                task = self.landed("activities", a["id"])
                got = (task.name, fields.Datetime.to_string(task.date_deadline), task.user_ids,
                       task.x_flitstack_lead_id, task.project_id)
                want = (a["subject"], to_datetime(a["date"]), owner, self.lead(a["lead_id"]), self.env["project.project"])
            else:
                activity = self.landed("task_activities", a["id"])
                got = (activity.summary, str(activity.date_deadline), activity.user_id, activity.res_model,
                       activity.res_id, activity.activity_type_id)
                want = (a["subject"], a["date"][:10], owner, "crm.lead", self.lead(a["lead_id"]).id,
                        self.env.ref("mail.mail_activity_data_todo"))
            if got != want:
                wrong.append((a["id"], got, want))
        # scheduler bookings: events with their invitee and status, on the lead's opportunity when named
        statuses = set()
        for a in self.appointments:
            event = self.landed("appointments", a["id"]).with_context(active_test=False)
            owner = self.owners[a["owner_id"]]
            invitee = self.env["res.partner"].search([("email", "=ilike", a["invitee_email"])], order="active desc, id",
                                                     limit=1)
            self.assertTrue(invitee, a["id"])
            got = (event.name, fields.Datetime.to_string(event.start), fields.Datetime.to_string(event.stop),
                   event.location or None, event.opportunity_id, event.user_id, event.partner_ids,
                   event.x_flitstack_appointment_status, event.active, event.activity_ids)
            want = (a["title"], to_datetime(a["start"]), to_datetime(a["ends_at"]), a["location"],
                    self.lead(a["lead_id"]) if a["lead_id"] else self.env["crm.lead"], owner, invitee,
                    a["status"], a["status"] in ("scheduled", "completed"), self.env["mail.activity"])
            if got != want:
                wrong.append((a["id"], got, want))
            statuses.add(a["status"])
        self.assertEqual(statuses, {"scheduled", "completed", "cancelled", "no_show"})
        # files: on the lead's opportunity, or on the client's partner, byte for byte, with name, type and date
        for f in self.files:
            identity = "files" if f["lead_id"] else "client_files"
            attachment = self.landed(identity, f["id"])
            parent = self.lead(f["lead_id"]) if f["lead_id"] else self.landed("clients", f["client_id"])
            with self.export_files.open_file(f["location"]) as fh:
                content = fh.read()
            got = (attachment.res_model, attachment.res_id, attachment.name, attachment.mimetype,
                   attachment.file_size, attachment.raw, fields.Datetime.to_string(attachment.create_date))
            want = (parent._name, parent.id, f["filename"], mimetypes.guess_type(f["filename"])[0] or
                    attachment.mimetype, len(content), content, to_datetime(f["uploaded_at"]))
            if got != want:
                wrong.append((f["id"], got[:4], want[:4]))
        self.assertTrue(any("–" in f["filename"] for f in self.files))
        self.assertEqual(wrong, [])

        # a re-run creates nothing; rolling back restores every table; nothing was ever sent
        second = self.start_run(self.connection)
        self.assert_closes(second)
        self.assertEqual({m: self.counts(second)[m][1:3] for m in HISTORY_MAPS}, {m: (0, 0) for m in HISTORY_MAPS})
        self.assertEqual(self.table_counts(), after)
        self.rollback(second)
        self.rollback(first)
        self.assertEqual(self.table_counts(), before)
        self.assertEqual(sent, [])
