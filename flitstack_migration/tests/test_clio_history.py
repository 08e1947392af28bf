"""A law firm's history, from an emulated Clio into Odoo: meetings, tasks, logged emails
and calls, notes, each with its original timestamp and author, and nothing sent.

Meetings land as calendar events of the matter's opportunity with their attendees
(users and partners found by email), open tasks as To-Do activities, done tasks,
communications and notes as chatter messages dated when they happened.  No mail,
notification or invitation leaves: no ``mail.mail`` is created and the outgoing mail
server is never called, although a quarter of the meetings lie in the future.
"""
from datetime import datetime, timedelta, timezone

from odoo import fields

from flitstack_connectors.mapping.transforms import to_datetime
from flitstack_connectors.records import Ref

from odoo.tests import tagged

from ..services.loader import BatchLoader
from .common import FlitstackCase

CONTACTS, MATTERS, USERS = 60, 30, 4
HISTORY = {"calendar_entries": 40, "tasks": 40, "communications": 36, "notes": 30}
HISTORY_MAPS = ("clio_calendar_entry", "clio_task_open", "clio_task_done", "clio_communication",
                "clio_communication_contact", "clio_matter_note", "clio_contact_note")
#: the tables a run of the history writes, and those a rollback must restore
COUNTED = ("calendar.event", "calendar.attendee", "mail.activity", "mail.message", "mail.followers", "mail.mail",
           "mail.notification", "project.task", "ir.model.data")


def odoo_moment(text):
    return to_datetime(text)


@tagged("post_install", "-at_install", "flitstack")
class TestClioHistory(FlitstackCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=CONTACTS, matters=MATTERS, users=USERS, history=HISTORY, rate_limit=100_000)
        cls.users = [cls.clio.record("users", uid) for uid in cls.clio.ids("users")]
        # two of the firm's users have Odoo users (their email in another case)
        cls.odoo_users = {}
        for u in cls.users[:2]:
            cls.odoo_users[u["id"]] = cls.env["res.users"].with_context(no_reset_password=True).create({
                "name": u["name"], "login": u["email"].upper(), "email": u["email"].upper()})
        cls.history = {r: [cls.clio.record(r, i) for i in cls.clio.ids(r)] for r in HISTORY}

    def table_counts(self):
        """Sizes of the tables; the chatter of the runs themselves ("Run started") is left out."""
        own = {"mail.message": [("model", "not like", "flitstack.%")],
               "mail.followers": [("res_model", "not like", "flitstack.%")]}
        return {m: self.env[m].sudo().with_context(active_test=False).search_count(own.get(m, []))
                for m in COUNTED if m in self.env}

    def user_of(self, clio_user_id):
        return self.odoo_users.get(clio_user_id, self.fallback_user)

    def lead_of(self, matter_id):
        return self.env["crm.lead"].with_context(active_test=False).search(
            [("x_flitstack_source_ref", "=", f"matters/{matter_id}")])

    def partner_of(self, contact_id):
        return self.env["res.partner"].with_context(active_test=False).search(
            [("x_flitstack_source_ref", "=", f"contacts/{contact_id}")])

    def landed(self, model, identity, source_id):
        return self.env.ref(f"{self.connection.xmlid_module}.{identity}_{source_id}")

    def test_history_lands_with_original_dates_and_authors_sends_nothing_and_rolls_back(self):
        before = self.table_counts()
        mail_server = type(self.env["ir.mail_server"])
        sent = []
        original_send = mail_server.send_email

        def counting_send(server, *args, **kwargs):
            sent.append(1)
            return original_send(server, *args, **kwargs)

        entries, tasks = self.history["calendar_entries"], self.history["tasks"]
        comms, notes = self.history["communications"], self.history["notes"]
        future = [e for e in entries if e["start_at"] > datetime.now(timezone.utc).isoformat()]
        self.assertTrue(future and [e for e in entries if e["all_day"]] and [e for e in entries if not e["matter"]])
        done = [t for t in tasks if t["status"] == "complete"]
        open_ = [t for t in tasks if t["status"] != "complete"]
        self.assertTrue(done and open_ and [t for t in open_ if not t["due_at"]])
        self.patch(mail_server, "send_email", counting_send)

        # 1. the full run: every history map reconciles and nothing fails
        first = self.start_run(self.connection)
        self.assert_closes(first)
        counts = self.counts(first)
        with_matter = [c for c in comms if c["matter"]]
        expected = {
            "clio_calendar_entry": len(entries), "clio_task_open": len(open_), "clio_task_done": len(done),
            "clio_communication": len(with_matter), "clio_communication_contact": len(comms) - len(with_matter),
            "clio_matter_note": sum(1 for n in notes if n["type"] == "Matter"),
            "clio_contact_note": sum(1 for n in notes if n["type"] == "Contact"),
        }
        self.assertEqual({m: counts[m] for m in HISTORY_MAPS}, {m: (n, n, 0, 0, 0) for m, n in expected.items()})
        self.assertTrue(all(expected.values()))

        # 2. nothing left the database: no mail queued, no server called, nobody notified
        after = self.table_counts()
        self.assertEqual((after["mail.mail"], after["mail.notification"], sent),
                         (before["mail.mail"], before["mail.notification"], []))
        # calendar and crm add nothing of their own: no meeting activity, no "Meeting scheduled" note
        self.assertEqual(after["mail.activity"] - before["mail.activity"], len(open_))
        self.assertEqual(after["calendar.event"] - before["calendar.event"], len(entries))
        self.assertEqual(after["mail.message"] - before["mail.message"], len(done) + len(comms) + len(notes))

        # 3. meetings: times, all-day flag, location, opportunity, attendees and organizer by email
        partners_by_email = {}
        for u in self.users:
            partners_by_email[u["email"]] = self.odoo_users[u["id"]].partner_id if u["id"] in self.odoo_users else None
        wrong = []
        for e in entries:
            event = self.landed("calendar.event", "calendar_entries", e["id"])
            end = e["end_at"]
            if e["all_day"]:
                end = (datetime.fromisoformat(end) - timedelta(seconds=1)).isoformat()
            attendees = set()
            for a in e["attendees"]:
                partner = partners_by_email.get(a["email"]) if a["type"] == "Calendar" else \
                    self.partner_of(a["id"])
                if partner:
                    attendees.add(partner.id)
            owner = next((self.odoo_users.get(u["id"]) for u in self.users
                          if u["email"] == e["attendees"][0]["email"]), None)
            got = (event.name, fields.Datetime.to_string(event.start), fields.Datetime.to_string(event.stop),
                   event.allday, event.location or None, event.opportunity_id, event.res_id or False,
                   set(event.partner_ids.ids), set(event.attendee_ids.partner_id.ids), event.user_id,
                   fields.Datetime.to_string(event.create_date), event.activity_ids)
            lead = self.lead_of(e["matter"]["id"]) if e["matter"] else self.env["crm.lead"]
            want = (e["summary"], odoo_moment(e["start_at"]), odoo_moment(end), e["all_day"], e["location"],
                    lead, lead.id or False, attendees, attendees, owner or self.env["res.users"],
                    odoo_moment(e["created_at"]), self.env["mail.activity"])
            if got != want:
                wrong.append((e["id"], got, want))
        self.assertEqual(wrong, [])
        self.assertFalse(self.env["mail.message"].search_count(
            [("model", "=", "crm.lead"), ("body", "ilike", "Meeting scheduled")]))
        unmatched = self.lines(first, "clio_calendar_entry", "create")[next(
            e["id"] for e in entries if e["attendees"][0]["email"] not in
            {u["email"] for u in self.users if u["id"] in self.odoo_users})]
        self.assertIn("partner_ids: no res.partner has the source's email address; left out", unmatched.message)

        # 4. open tasks: To-Do activities due on their date, assigned by email, assignee not notified
        todo = self.env.ref("mail.mail_activity_data_todo")
        wrong = []
        for t in open_:
            activity = self.landed("mail.activity", "task_activities", t["id"])
            got = (activity.summary, str(activity.date_deadline), activity.user_id, activity.activity_type_id,
                   activity.res_model, activity.res_id, fields.Datetime.to_string(activity.create_date))
            want = (t["name"], t["due_at"] or t["created_at"][:10], self.user_of(t["assignee"]["id"]), todo,
                    "crm.lead", self.lead_of(t["matter"]["id"]).id, odoo_moment(t["created_at"]))
            if got != want:
                wrong.append((t["id"], got, want))
        self.assertEqual(wrong, [])

        # 5. done tasks, communications and notes: messages dated when they happened, by their user
        note = self.env.ref("mail.mt_note")
        email_type, call_type = self.env.ref("mail.mail_activity_data_email"), self.env.ref("mail.mail_activity_data_call")
        wrong = []
        for t in done:
            msg = self.landed("mail.message", "tasks", t["id"])
            got = (msg.model, msg.res_id, fields.Datetime.to_string(msg.date), msg.author_id, msg.subject,
                   msg.mail_activity_type_id, msg.subtype_id, msg.message_type, "Check the file first" in msg.body)
            want = ("crm.lead", self.lead_of(t["matter"]["id"]).id, odoo_moment(t["completed_at"]),
                    self.user_of(t["assignee"]["id"]).partner_id, t["name"], todo, note, "comment", True)
            if got != want:
                wrong.append((t["id"], got, want))
        for c in comms:
            msg = self.landed("mail.message", "communications", c["id"])
            model, res_id = ("crm.lead", self.lead_of(c["matter"]["id"]).id) if c["matter"] else \
                ("res.partner", self.partner_of(next(p["id"] for p in c["senders"] + c["receivers"]
                                                     if p["type"] != "User")).id)
            email = c["type"] == "EmailCommunication"
            got = (msg.model, msg.res_id, fields.Datetime.to_string(msg.date), msg.author_id, msg.subject,
                   msg.message_type, msg.mail_activity_type_id, msg.subtype_id, msg.is_internal)
            want = (model, res_id, odoo_moment(c["received_at"]), self.user_of(c["user"]["id"]).partner_id,
                    c["subject"], "email" if email else "comment", email_type if email else call_type, note, True)
            if got != want:
                wrong.append((c["id"], got, want))
        for n in notes:
            msg = self.landed("mail.message", "notes", n["id"])
            model, res_id = ("crm.lead", self.lead_of(n["matter"]["id"]).id) if n["type"] == "Matter" else \
                ("res.partner", self.partner_of(n["contact"]["id"]).id)
            rich = n["detail_text_type"] == "rich_text"
            got = (msg.model, msg.res_id, fields.Datetime.to_string(msg.date), msg.author_id, msg.subject,
                   msg.subtype_id, "<em>Follow up</em>" in msg.body, "Follow up next week" in msg.body)
            want = (model, res_id, odoo_moment(n["created_at"]), self.user_of(n["author"]["id"]).partner_id,
                    n["subject"], note, rich, not rich)
            if got != want:
                wrong.append((n["id"], got, want))
        self.assertEqual(wrong, [])
        self.assert_no_personal_data(first, [n["detail"] for n in notes] + [c["body"] for c in comms]
                                     + [u["email"] for u in self.users])

        # 6. a re-run creates nothing and sends nothing
        second = self.start_run(self.connection)
        self.assert_closes(second)
        self.assertEqual({m: self.counts(second)[m] for m in HISTORY_MAPS},
                         {m: (n, 0, 0, n, 0) for m, n in expected.items()})
        self.assertEqual(self.table_counts(), after)
        self.assertEqual(sent, [])

        # 7. rolling both runs back restores every table
        self.rollback(second)
        self.rollback(first)
        self.assertEqual(self.table_counts(), before)
        self.assertEqual(sent, [])

    def test_email_lookups_find_users_then_partners_case_blind_and_literally(self):
        clio_user = self.users[0]
        user = self.odoo_users[clio_user["id"]]
        # "_" would match any character in a LIKE pattern: the other partner comes first
        self.env["res.partner"].create({"name": "Other", "email": "axb@client.example"})
        partner = self.env["res.partner"].create({"name": "Client", "email": "a_b@client.example"})
        loader = BatchLoader(self.new_running_run())
        events = self.env["calendar.event"]

        def ref(fname, email):
            return loader._ref_id(events, fname, Ref(kind="email", key=email), {})

        # a user's email: the user for a user field, the user's partner for a partner field
        self.assertEqual(ref("user_id", clio_user["email"]), (user.id, None, None))
        self.assertEqual(ref("partner_ids", clio_user["email"].title()), (user.partner_id.id, None, None))
        # a partner's email, with "_" taken literally (not a LIKE wildcard)
        self.assertEqual(ref("partner_ids", "A_B@client.example"), (partner.id, None, None))
        self.assertEqual(ref("partner_ids", "a%b@client.example"),
                         (False, "partner_ids: no res.partner has the source's email address; left out", None))
        # no user has a partner's email
        self.assertEqual(ref("user_id", "a_b@client.example"),
                         (False, "user_id: no res.users has the source's email address; left out", None))

    def test_the_counters_see_an_invitation_sent_outside_a_migration(self):
        # the control for the run's "nothing sent": a future meeting created the ordinary way
        # invites its attendee, and the counts the run is held to see it
        # (invitations are sent at once: the mail.mail is sent and deleted, the server is called)
        mail_server = type(self.env["ir.mail_server"])
        sent = []
        original_send = mail_server.send_email

        def counting_send(server, *args, **kwargs):
            sent.append(1)
            return original_send(server, *args, **kwargs)

        self.patch(mail_server, "send_email", counting_send)
        partner = self.env["res.partner"].create({"name": "Invitee", "email": "invitee@client.example"})
        start = datetime.now() + timedelta(days=30)
        self.env["calendar.event"].create({"name": "Meeting", "start": start, "stop": start + timedelta(hours=1),
                                           "partner_ids": [(6, 0, [partner.id])]})
        self.assertEqual(sent, [1])
