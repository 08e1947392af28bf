import copy
import re
import shutil
import tempfile

from lxml import html as lxml_html

from odoo.tests import tagged

from flitstack_connectors.emulators.exports import write_clientjoy_export
from flitstack_connectors.mapping import apply_object_map, matches_filter
from flitstack_connectors.sources.clientjoy import ClientjoySource

from .common_sources import SourceRunCase

PEOPLE, LEADS = 2000, 5000
_MARKER = re.compile(r"<p><em>Part \d+ of \d+</em></p>")

def text_of(body):
    return lxml_html.fromstring(f"<div>{body}</div>").text_content()


@tagged("post_install", "-at_install", "flitstack")
class TestClientjoyRun(SourceRunCase):
    """A Clientjoy export folder of 2,000 clients and 5,000 leads with every
    planted defect, migrated once through the queue jobs."""

    kind = "clientjoy"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-clientjoy-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.manifest = write_clientjoy_export(f"{folder}/export", people=PEOPLE, leads=LEADS, defects="all")
        cls.owner_users = {email: cls.create_users([email]) for email in cls.manifest["known_user_emails"]}
        cls.connection = cls.make_connection(export_path=cls.manifest["path"])
        cmap = cls.connection.map_id
        cmap.action_new_version()
        new = cls.connection.map_id
        # the default map lands calls, emails and notes as notes (clientjoy_activity), meetings as
        # calendar events, tasks as project tasks or activities (see test_clientjoy_history); its
        # invoices land in TestClientjoyInvoices, on a smaller export: switched off here
        data = copy.deepcopy(new.spec_json)
        invoice_maps = {om["name"] for om in data["objects"] if om["target_model"].startswith("account.")}
        for om in data["objects"]:
            if om["name"] in invoice_maps:
                om.update(enabled=False, fields=[], lookups=[])
        new.with_context(flitstack_map_sync=True).write({"spec_json": data})
        new.line_ids.filtered(lambda l: l.object_map in invoice_maps).with_context(flitstack_map_sync=True).unlink()
        new.action_confirm()
        # what the export holds, read as the run reads it
        source = ClientjoySource(cls.manifest["path"])
        cls.records = {o: list(source.read(o)) for o in ("owners", "pipelines", "stages", "clients", "leads", "activities",
                                                         "appointments", "files")}
        cls.spec = new._spec()
        cls.before = cls.table_counts()
        cls.first = cls.start_run(cls.connection)
        cls.after = cls.table_counts()

    def selected(self, map_name):
        om = self.spec.object_map(map_name)
        return [r for r in self.records[om.source_object] if matches_filter(om, r)]

    def defects(self, *kinds):
        return {(d["source_id"], d["row"]) for k in kinds for d in self.manifest["defects"][k]}

    # -- the full run ---------------------------------------------------------------------------
    def test_full_run_reconciles_and_malformed_rows_fail_with_row_and_reason(self):
        unreadable = self.defects("bad_dates", "missing_ids", "duplicate_ids", "undecodable")
        malformed = self.defects("malformed_emails")
        self.assertEqual((len(unreadable), len(malformed)), (8, 2))
        failed_leads = {sid for sid, _row in unreadable}
        expected = {}
        for name in ("clientjoy_pipeline", "clientjoy_stage", "clientjoy_client_company", "clientjoy_client_person",
                     "clientjoy_client_contact", "clientjoy_lead", "clientjoy_lead_won", "clientjoy_activity"):
            records = self.selected(name)
            keys = {(r.source_id, r.row_number) for r in records}
            om = self.spec.object_map(name)
            fails = keys & unreadable
            if "email" in om.targets():
                fails |= keys & malformed
            if name == "clientjoy_activity":
                fails = {(r.source_id, r.row_number) for r in records if r.data["lead_id"] in failed_leads}
            expected[name] = (len(records), len(records) - len(fails), 0, 0, len(fails))
            got = {(l.source_id, l.row_number): l.message
                   for l in self.first.audit_line_ids.filtered(lambda l, n=name: l.map_name == n and l.operation == "fail")}
            want = {}
            for r in records:
                key = (r.source_id, r.row_number)
                if key not in fails:
                    continue
                errors = apply_object_map(self.spec, om, r).errors
                if r.problems:  # the reader's reason first, then what it left the map without
                    self.assertEqual(errors[:len(r.problems)], r.problems)
                    want[key] = "; ".join(errors)
                elif key in malformed:
                    self.assertEqual(errors, ["email: email address is malformed"])
                    want[key] = "email: email address is malformed"
                else:
                    want[key] = self.failed_ref("res_id", "leads", r.data["lead_id"])
            self.assertEqual(got, want, name)
        counts = self.counts(self.first)
        self.assertEqual({name: counts[name] for name in expected}, expected)
        # meetings land on their lead's opportunity when it loaded, else on their own (a note says so);
        # tasks and their fallback map each reconcile (see test_clientjoy_history)
        meetings = len(self.selected("clientjoy_meeting"))
        self.assertEqual(counts["clientjoy_meeting"], (meetings, meetings, 0, 0, 0))
        history_maps = {"clientjoy_meeting", "clientjoy_task", "clientjoy_task_activity", "clientjoy_appointment",
                        "clientjoy_file_lead", "clientjoy_file_client"}
        self.assertEqual(set(counts), set(expected) | history_maps)
        bookings = len(self.records["appointments"])
        self.assertEqual((bookings, counts["clientjoy_appointment"]), (500, (500, 500, 0, 0, 0)))
        # a file of a client whose partner did not load (a malformed email) fails with it
        unloaded = {r.source_id for r in self.records["clients"] if not r.data["is_company"]
                    and (r.source_id, r.row_number) in malformed}
        client_files = [r for r in self.records["files"] if not r.data["lead_id"]]
        failing = [r.source_id for r in client_files if r.data["client_id"] in unloaded]
        self.assertEqual(counts["clientjoy_file_lead"], (5, 5, 0, 0, 0))
        self.assertEqual(counts["clientjoy_file_client"], (5, 5 - len(failing), 0, 0, len(failing)))
        self.assertEqual(expected["clientjoy_pipeline"], (2, 2, 0, 0, 0))
        self.assertEqual(expected["clientjoy_stage"], (9, 9, 0, 0, 0))
        self.assertEqual(expected["clientjoy_lead"][4] + expected["clientjoy_lead_won"][4], 8)
        self.assertTrue(expected["clientjoy_activity"][4] > 0)
        self.assert_closes(self.first)

        # every row number of a fail line is the spreadsheet row the manifest names, with its reason
        lead_fails = self.first.audit_line_ids.filtered(lambda l: l.map_name.startswith("clientjoy_lead")
                                                       and l.operation == "fail")
        self.assertEqual({(l.source_id, l.row_number) for l in lead_fails}, unreadable)
        self.assertEqual({l.row_number for l in lead_fails if "could not be read as a date" in l.message},
                         {row for _sid, row in self.defects("bad_dates")})
        self.assertEqual({l.row_number for l in lead_fails if "not valid utf-8" in l.message},
                         {row for _sid, row in self.defects("undecodable")})

        # orphan leads load, without their client, and say so
        for sid, _row in self.defects("orphans"):
            line = self.lines(self.first, "clientjoy_lead", "create").get(sid) or \
                self.lines(self.first, "clientjoy_lead_won", "create")[sid]
            client = next(r for r in self.records["leads"] if r.source_id == sid).data["client_id"]
            self.assertIn(f"partner_id: the referenced clients record {client} has not been migrated", line.message)

        delta = {m: self.after[m] - self.before[m] for m in self.before}
        created = {k: v[1] for k, v in expected.items()}
        parts = len(self.first.audit_line_ids.filtered(lambda l: l.continuation and l.map_name == "clientjoy_activity"))
        self.assertEqual(parts, 2)  # the two long notes, in two parts each
        self.assertEqual(delta["crm.team"], 2)
        self.assertEqual(delta["crm.stage"], 9)
        self.assertEqual(delta["res.partner"], created["clientjoy_client_company"] + created["clientjoy_client_person"]
                         + created["clientjoy_client_contact"])
        self.assertEqual(delta["crm.lead"], created["clientjoy_lead"] + created["clientjoy_lead_won"])
        self.assertEqual(delta["mail.message"], created["clientjoy_activity"] + parts)
        history = sum(counts[m][1] for m in history_maps)
        self.assertEqual(delta["ir.model.data"], sum(created.values()) + parts + history)
        self.assert_no_personal_data(self.first, [r.data["email"] for r in self.records["clients"][:300]
                                                  if r.data.get("email")])

    def test_pipelines_stages_clients_and_leads_land_with_their_values(self):
        teams = {f"pipelines/{k}": self.env.ref(f"{self.connection.xmlid_module}.pipelines_{k}") for k in ("PL1", "PL2")}
        self.assertEqual(sorted(t.name for t in teams.values()), ["Partnerships", "Sales Pipeline"])
        stages = {}
        for r in self.records["stages"]:
            stage = self.env.ref(f"{self.connection.xmlid_module}.stages_{r.source_id}")
            stages[r.source_id] = stage
            self.assertEqual((stage.name, stage.sequence, stage.x_flitstack_probability, stage.is_won),
                             (r.data["name"], int(r.data["sequence"]), float(r.data["probability"]),
                              r.data["probability"] == "100"))
            self.assertEqual(stage.team_id, teams[f"pipelines/{r.data['pipeline_id']}"])
        users = {r.source_id: self.owner_users.get(r.data["email"], self.fallback_user) for r in self.records["owners"]}
        self.assertEqual(sum(1 for u in users.values() if u == self.fallback_user), 2)
        leads = {l.x_flitstack_source_ref.split("/", 1)[1]: l for l in self.env["crm.lead"].with_context(
            active_test=False).search([("x_flitstack_source_ref", "=like", "leads/%")])}
        loaded = [r for r in self.records["leads"] if not r.problems]
        self.assertEqual(len(leads), len(loaded))
        won = self.env.ref("crm.stage_lead4")
        for r in loaded:
            lead = leads[r.source_id]
            self.assertEqual(lead.user_id, users[r.data["owner_id"]])
            self.assertEqual(lead.team_id, teams[f"pipelines/{r.data['pipeline_id']}"])
            if r.data["is_won"]:
                self.assertEqual((lead.stage_id, lead.active, lead.probability), (won, True, 100))
            else:
                self.assertEqual(lead.stage_id, stages[r.data["stage_id"]])
                self.assertEqual(lead.active, r.data["status"] != "lost")
            self.assertEqual(lead.x_flitstack_source_status, r.data["status"])
        companies = [r for r in self.records["clients"] if r.data["is_company"] and not r.problems]
        sample = companies[0]
        company = self.env.ref(f"{self.connection.xmlid_module}.clients_{sample.source_id}")
        contact = self.env.ref(f"{self.connection.xmlid_module}.client_contacts_{sample.source_id}")
        self.assertEqual((company.is_company, company.name, contact.parent_id, contact.name),
                         (True, sample.data["company_name"], company, sample.data["contact_name"]))
        # every client's address with its state, found by code within its country (UK addresses have none)
        codes = set()
        for r in self.records["clients"]:
            partner = self.env.ref(f"{self.connection.xmlid_module}.clients_{r.source_id}", raise_if_not_found=False)
            if partner is None:
                continue
            country = self.env["res.country"].search([("name", "=ilike", r.data["country"])])
            state = self.env["res.country.state"].search(
                [("country_id", "=", country.id), ("code", "=ilike", r.data["state"])]) if r.data.get("state") \
                else self.env["res.country.state"]
            self.assertEqual((partner.street, partner.city, partner.country_id, partner.state_id),
                             (r.data["street"], r.data["city"], country, state), r.source_id)
            codes.add(state.code)
        self.assertEqual(codes, {False, "TX", "CO", "MH", "NSW", "ON"})

    def test_activities_become_dated_notes_on_their_lead_and_long_ones_are_split(self):
        created = self.lines(self.first, "clientjoy_activity", "create")
        further = {}
        for l in self.first.audit_line_ids.filtered(lambda l: l.continuation and l.map_name == "clientjoy_activity"):
            further.setdefault(l.xmlid.rpartition("_part")[0], []).append(l.res_id)
        long_ids = {sid for sid, _row in self.defects("long_notes")}
        self.assertEqual(sorted(further), sorted(created[sid].xmlid for sid in long_ids))
        owners = {r.source_id: self.owner_users.get(r.data["email"], self.fallback_user) for r in self.records["owners"]}
        note = self.env.ref("mail.mt_note")
        for r in self.records["activities"]:
            if r.source_id not in created:
                continue
            line = created[r.source_id]
            parts = self.env["mail.message"].browse([line.res_id] + further.get(line.xmlid, []))
            lead = self.env.ref(f"{self.connection.xmlid_module}.leads_{r.data['lead_id']}")
            kind = "email" if r.data["type"] == "email" else "comment"
            self.assertEqual({(p.model, p.res_id, p.subtype_id, p.message_type, p.is_internal) for p in parts},
                             {("crm.lead", lead.id, note, kind, True)})
            self.assertEqual({p.date.strftime("%Y-%m-%dT%H:%M:%S") for p in parts}, {r.data["date"]})
            self.assertEqual(set(parts.mapped("author_id")), {owners[r.data["owner_id"]].partner_id})
            # plain text as HTML, its lines kept, nothing cut
            joined = "".join(text_of(_MARKER.sub("", str(p.body))) for p in parts.sorted("id"))
            self.assertEqual(joined, r.data["body"].replace("\n", ""))
            self.assertEqual(len(parts), 2 if r.source_id in long_ids else 1)
            if r.source_id in long_ids:
                self.assertRegex(line.message, r"^body: [\d,]+ characters, split into 2 messages of at most "
                                                r"10,000 characters")
                self.assertTrue(all(len(str(p.body)) <= 10000 for p in parts))
            elif "\n" in r.data["body"]:
                self.assertIn("<br>", str(parts.body))

    # -- again, and back ---------------------------------------------------------------------------
    def test_rerun_creates_nothing(self):
        self.assert_rerun_creates_nothing(self.connection, self.first)

    def test_rollback_restores_every_table(self):
        self.rollback(self.first)
        self.assertEqual(self.table_counts(), self.before)
        self.assertFalse(self.env["crm.team"].search([("name", "=", "Partnerships")]))


@tagged("post_install", "-at_install", "flitstack")
class TestClientjoyCustomColumns(SourceRunCase):
    """A custom column of the clients export with a few repeated values (a Clientjoy
    dropdown) is proposed as a selection field with its options, provisioned as one, and
    its values land as the options' keys; a column of distinct codes stays a char field."""

    kind = "clientjoy"

    def test_a_dropdown_column_becomes_a_provisioned_selection_field_and_its_values_land(self):
        folder = tempfile.mkdtemp(prefix="flitstack-clientjoy-custom-")
        self.addCleanup(shutil.rmtree, folder, True)
        manifest = write_clientjoy_export(f"{folder}/export", people=60, leads=120)
        connection = self.env["flitstack.connection"].create({
            "name": "Clientjoy with custom fields", "kind": "clientjoy", "state": "connected",
            "export_path": manifest["path"], "fallback_user_id": self.fallback_user.id})
        connection.action_propose_map()
        cmap = connection.map_id
        spec = cmap._spec()
        custom = {cf.name: cf for cf in spec.custom_fields if cf.name.startswith("x_clients_")}
        self.assertEqual({n: (cf.model, cf.type, cf.selection) for n, cf in custom.items()}, {
            "x_clients_client_tier": ("res.partner", "selection", [("bronze", "Bronze"), ("gold", "Gold"),
                                                                   ("platinum", "Platinum"), ("silver", "Silver")]),
            "x_clients_account_code": ("res.partner", "char", [])})
        rows = [(om.name, row.value_map) for om in spec.objects for row in om.fields
                if row.target == "x_clients_client_tier"]
        self.assertEqual(rows, [(name, "x_clients_client_tier") for name in (
            "clientjoy_client_company", "clientjoy_client_contact", "clientjoy_client_person")])
        cmap.action_provision_fields()
        cmap.action_confirm()
        field = self.env["ir.model.fields"]._get("res.partner", "x_clients_client_tier")
        self.assertEqual((field.ttype, field.state), ("selection", "manual"))
        self.assertEqual([(s.value, s.name) for s in field.selection_ids.sorted("sequence")],
                         [("bronze", "Bronze"), ("gold", "Gold"), ("platinum", "Platinum"), ("silver", "Silver")])
        self.assertEqual(self.env["ir.model.fields"]._get("res.partner", "x_clients_account_code").ttype, "char")

        run = self.start_run(connection)
        self.assert_closes(run)
        source = ClientjoySource(manifest["path"])
        clients = list(source.read("clients"))
        source.close()
        module = connection.xmlid_module
        landed = {}
        for r in clients:
            partner = self.env.ref(f"{module}.clients_{r.source_id}")
            want = (r.data["client_tier"] or "").casefold() or False
            self.assertEqual((partner.x_clients_client_tier, partner.x_clients_account_code),
                             (want, r.data["account_code"]), r.source_id)
            if r.data["is_company"] and r.data["contact_name"]:
                contact = self.env.ref(f"{module}.client_contacts_{r.source_id}")
                self.assertEqual(contact.x_clients_client_tier, want)
            landed[want] = landed.get(want, 0) + 1
        self.assertEqual(set(landed), {"bronze", "gold", "platinum", "silver", False})
        self.assertEqual(landed[False], 10)  # one client in six has no tier


@tagged("post_install", "-at_install", "flitstack")
class TestClientjoyInvoices(SourceRunCase):
    """Clientjoy invoices of a small export: customer invoices of the client's partner
    where Invoicing is installed (number, dates, state, currency, a subtotal line and a
    tax line to the cent, status and recurrence kept), paid ones paid by a reconciled
    payment; a currency Odoo cannot take yet is flagged by pre-flight and its invoices
    land in the company currency with the code kept. Reported as not migrated where
    Invoicing is not installed; a re-run creates nothing, rollback restores every table."""

    kind = "clientjoy"
    MAPS = ("clientjoy_invoice", "clientjoy_invoice_line", "clientjoy_invoice_tax", "clientjoy_invoice_payment")
    maxDiff = None
    MODELS = ("account.move", "account.move.line", "account.partial.reconcile", "account.payment", "account.journal")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-clientjoy-invoices-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.manifest = write_clientjoy_export(f"{folder}/export", people=40, leads=60)
        cls.connection = cls.make_connection(export_path=cls.manifest["path"])
        source = ClientjoySource(cls.manifest["path"])
        cls.invoices = list(source.read("invoices"))
        source.close()

    def model_counts(self):
        return dict(self.table_counts(), **{m: self.env[m].sudo().with_context(active_test=False).search_count([])
                                            for m in self.MODELS if m in self.env})

    def currency_findings(self):
        cmap = self.connection.map_id
        cmap.action_preflight()
        return {f.values: (f.level, f.object_map, f.target, f.message)
                for f in cmap.finding_ids if f.target == "currency_id" and f.values}

    def test_invoices_land_in_their_currency_and_paid_ones_are_paid(self):
        self.assertEqual(len(self.invoices), 20)
        currencies = [r.data["currency"] for r in self.invoices]
        self.assertEqual({c: currencies.count(c) for c in set(currencies)}, {"USD": 14, "EUR": 4, "GBP": 2})
        paid = [r for r in self.invoices if r.data["status"] == "paid"]
        self.assertTrue(paid and len(paid) < len(self.invoices))
        n, p = len(self.invoices), len(paid)
        if "account.move" not in self.env:
            before = self.model_counts()
            run = self.start_run(self.connection)
            self.assert_closes(run)
            counts = self.counts(run)
            self.assertEqual({m: counts[m] for m in self.MAPS},
                             {m: ((p if m == "clientjoy_invoice_payment" else n), 0, 0,
                                  (p if m == "clientjoy_invoice_payment" else n), 0) for m in self.MAPS})
            for name in self.MAPS:
                model = {"clientjoy_invoice": "account.move",
                         "clientjoy_invoice_payment": "account.payment"}.get(name, "account.move.line")
                for line in self.lines(run, name, "skip").values():
                    self.assertEqual(line.message, f"not migrated: {model} is not installed in this database; "
                                                   "install its app and run again to migrate these records")
            self.rollback(run)
            self.assertEqual(self.model_counts(), before)
            return

        usd, eur, gbp = self.env.ref("base.USD"), self.env.ref("base.EUR"), self.env.ref("base.GBP")
        self.assertEqual(self.env.company.currency_id, usd)
        self.assertEqual((eur.active, gbp.active, bool(eur.rate_ids)), (False, False, False))
        # pre-flight names each currency Odoo cannot take as it stands; the run activates none
        gbp_message = ("invoices in GBP: activate GBP and set its rate (Accounting > Configuration > Currencies) "
                       "before the run; until then they land in the company currency (USD) with their amounts as "
                       "exported and the code kept beside them.")
        self.assertEqual(self.currency_findings(), {
            "EUR": ("warning", "clientjoy_invoice", "currency_id", gbp_message.replace("GBP", "EUR")),
            "GBP": ("warning", "clientjoy_invoice", "currency_id", gbp_message)})
        # the admin activates EUR and sets its rate (1 USD = 0.92 EUR); GBP is left inactive
        eur.write({"active": True})
        self.env["res.currency.rate"].create({"currency_id": eur.id, "name": "2000-01-01", "rate": 0.92})
        self.assertEqual(self.currency_findings(), {
            "GBP": ("warning", "clientjoy_invoice", "currency_id", gbp_message)})

        journals = self.env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", self.env.company.id)])
        self.assertTrue(journals, "the database has a bank journal for the payments")
        before = self.model_counts()
        run = self.start_run(self.connection)
        self.assert_closes(run)
        counts = self.counts(run)
        self.assertEqual({m: counts[m] for m in self.MAPS},
                         {m: ((p, p, 0, 0, 0) if m == "clientjoy_invoice_payment" else (n, n, 0, 0, 0))
                          for m in self.MAPS})
        after = self.model_counts()
        self.assertEqual(after["account.payment"] - before["account.payment"], p)
        self.assertEqual(after["account.journal"], before["account.journal"])
        self.assertEqual((eur.active, gbp.active), (True, False))
        module = self.connection.xmlid_module
        states = {"draft": "draft", "unpaid": "posted", "overdue": "posted", "paid": "posted"}
        created = self.lines(run, "clientjoy_invoice", "create")
        for r in self.invoices:
            d = r.data
            move = self.env.ref(f"{module}.invoices_{r.source_id}")
            currency = {"USD": usd, "EUR": eur, "GBP": usd}[d["currency"]]
            self.assertEqual(
                (move.move_type, move.partner_id, move.ref, str(move.invoice_date), str(move.invoice_date_due),
                 move.state, move.x_flitstack_source_status, move.x_flitstack_recurrence or False,
                 move.currency_id, move.x_flitstack_currency),
                ("out_invoice", self.env.ref(f"{module}.clients_{d['client_id']}"), d["number"], d["issue_date"],
                 d["due_date"], states[d["status"]], d["status"], d["recurrence"] or False,
                 currency, d["currency"]), r.source_id)
            lines = move.invoice_line_ids.sorted("id")
            self.assertEqual([(l.name, l.quantity, l.price_unit, l.currency_id) for l in lines],
                             [("Services (subtotal as exported by Clientjoy)", 1, float(d["subtotal"]), currency),
                              ("Tax (as charged in Clientjoy)", 1, float(d["tax"]), currency)], r.source_id)
            # the total in the invoice's currency is the export's, to the cent
            self.assertEqual(currency.compare_amounts(move.amount_total, float(d["total"])), 0, r.source_id)
            if d["currency"] == "EUR":
                # in the company's books at the admin's rate, line by line
                self.assertEqual([usd.round(-l.balance) for l in lines],
                                 [usd.round(float(d["subtotal"]) / 0.92), usd.round(float(d["tax"]) / 0.92)])
            if d["currency"] == "GBP":
                self.assertIn("currency_id: currency GBP is not active or has no rate in Odoo; the record is in the "
                              "company currency with its amounts as exported and the source's currency code kept "
                              "beside it: activate GBP and set its rate (Accounting > Configuration > Currencies), "
                              "then run again", created[r.source_id].message)
            payment = self.env.ref(f"{module}.invoice_payments_{r.source_id}", raise_if_not_found=False)
            if d["status"] != "paid":
                self.assertFalse(payment, r.source_id)
                if move.state == "posted":
                    self.assertEqual((currency.compare_amounts(move.amount_residual, float(d["total"])),
                                      move.payment_state), (0, "not_paid"), r.source_id)
                continue
            self.assertEqual(
                (payment.state in ("in_process", "paid"), payment.payment_type, payment.partner_type, payment.partner_id, payment.currency_id,
                 currency.compare_amounts(payment.amount, float(d["total"])), payment.memo, str(payment.date),
                 payment.journal_id.type, payment.x_flitstack_move_id),
                (True, "inbound", "customer", move.partner_id, currency, 0, d["number"], d["issue_date"],
                 "bank", move), r.source_id)
            self.assertEqual((move.amount_residual, move.payment_state in ("paid", "in_payment")), (0.0, True),
                             r.source_id)
        Payment = self.env["account.payment"]
        self.assertEqual(Payment.search_count([("x_flitstack_move_id.x_flitstack_source_status", "=", "paid")]), p)

        second = self.assert_rerun_creates_nothing(self.connection, run)
        self.assertEqual(self.model_counts(), after)
        self.rollback(second)
        self.rollback(run)
        self.assertEqual(self.model_counts(), before)
