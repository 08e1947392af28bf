import json
import logging
from datetime import datetime, timezone

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import hmac

from flitstack_connectors.errors import FlitstackError
from flitstack_connectors.mapping import load_pack, matches_filter, propose_map
from flitstack_connectors.mapping.apply import get_path

from ..services.preflight import MapPreflight, read_source
from ..services.provisioning import FieldProvisioner
from ..services.source_factory import make_source
from .flitstack_map_line import sample_summaries

_logger = logging.getLogger(__name__)

SOURCE_KINDS = [
    ("clio", "Clio (API v4, OAuth 2.0)"),
    ("cliniko", "Cliniko (API key)"),
    ("clientjoy", "Clientjoy (CSV export)"),
    ("clinic_csv", "Clinic system (CSV / zip export)"),
]

#: records sampled per source object for a proposal
PROPOSAL_SAMPLE_SIZE = 20

#: default map pack per source kind
DEFAULT_PACKS = {
    "clio": "clio_odoo",
    "cliniko": "cliniko_odoo",
    "clientjoy": "clientjoy_odoo",
    "clinic_csv": "clinic_csv_odoo",
}


class FlitstackConnection(models.Model):
    """A source system an administrator migrates from.

    Secrets (OAuth tokens, client secret, API key) are readable by Settings
    administrators only, and never reach a log line, an audit line, the chatter
    or an error message.
    """

    _name = "flitstack.connection"
    _description = "Migration source connection"
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(required=True, tracking=True)
    kind = fields.Selection(SOURCE_KINDS, required=True, default="clio", tracking=True)
    state = fields.Selection(
        [("draft", "Not connected"), ("connected", "Connected"), ("error", "Error")],
        default="draft", required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)

    # -- where ---------------------------------------------------------------
    clio_region = fields.Selection(
        [("us", "United States (app.clio.com)"), ("ca", "Canada (ca.app.clio.com)"),
         ("eu", "Europe (eu.app.clio.com)"), ("au", "Australia (au.app.clio.com)")],
        string="Clio region", default="us")
    base_url = fields.Char(
        string="Base URL", help="Overrides the vendor's address (a regional host, a proxy, or a test server).")
    export_path = fields.Char(
        string="Export folder or zip",
        help="Path on the Odoo server of the folder or zip file holding the CSV export.")
    csv_header_map = fields.Text(
        string="Column names",
        help='Export columns named otherwise than the source expects, as JSON: {"Client Ref": "id"} for every '
             'file, or {"appointments": {"Client Ref": "patient_id"}} for one file.')
    csv_date_order = fields.Selection(
        [("auto", "Decide per file"), ("dmy", "Day/month/year"), ("mdy", "Month/day/year")],
        string="Numeric dates", default="auto",
        help="How to read dates such as 03/04/2024 in the export; each file decides from its own values by default.")
    contact_email = fields.Char(
        help="Sent in the User-Agent header to Cliniko, which requires a contact address.")

    # -- secrets (Settings administrators only) ------------------------------
    client_id = fields.Char(string="OAuth client id", groups="base.group_system")
    client_secret = fields.Char(string="OAuth client secret", groups="base.group_system", copy=False)
    access_token = fields.Char(groups="base.group_system", copy=False)
    refresh_token = fields.Char(groups="base.group_system", copy=False)
    token_expires_at = fields.Datetime(groups="base.group_system", copy=False)
    api_key = fields.Char(string="API key", groups="base.group_system", copy=False)

    # -- what and how --------------------------------------------------------
    map_id = fields.Many2one("flitstack.map", string="Current map", copy=False)
    map_ids = fields.One2many("flitstack.map", "connection_id", string="Maps")
    run_ids = fields.One2many("flitstack.run", "connection_id", string="Runs")
    run_count = fields.Integer(compute="_compute_run_count")
    staff_ids = fields.One2many("flitstack.staff", "connection_id", string="Source staff")
    provisioned_field_ids = fields.One2many("flitstack.provisioned.field", "connection_id")
    fallback_user_id = fields.Many2one(
        "res.users", string="Fallback owner",
        help="Owner of records whose source staff member has no Odoo user.")
    discovery_json = fields.Json(string="Discovered objects", copy=False, readonly=True)
    discovery_summary = fields.Text(compute="_compute_discovery_summary")
    delta_enabled = fields.Boolean(
        string="Pick up changes on schedule",
        help="The scheduled action starts a delta run for this connection when its last run is done.")
    last_error = fields.Text(readonly=True, copy=False)

    @api.depends("run_ids")
    def _compute_run_count(self):
        for conn in self:
            conn.run_count = len(conn.run_ids)

    @api.depends("discovery_json")
    def _compute_discovery_summary(self):
        for conn in self:
            objs = conn.discovery_json or []
            conn.discovery_summary = "\n".join(
                f"{o['name']}: {o.get('count') if o.get('count') is not None else '?'} records, {len(o.get('fields', []))} fields"
                for o in objs) or False

    # -- identity ------------------------------------------------------------
    @property
    def xmlid_module(self):
        """Module part of the external ids of records migrated by this connection."""
        self.ensure_one()
        return f"flitstack_{self.id}"

    # -- source --------------------------------------------------------------
    def _source(self):
        """A flitstack_connectors Source for this connection (caller closes it)."""
        self.ensure_one()
        return make_source(self.sudo())

    def _store_tokens(self, token_set):
        """Persist refreshed OAuth tokens.  Called by the Clio source after a refresh."""
        self.sudo().write({
            "access_token": token_set.access_token,
            "refresh_token": token_set.refresh_token,
            "token_expires_at": datetime.fromtimestamp(token_set.expires_at, timezone.utc).replace(tzinfo=None)
            if token_set.expires_at else False,
        })

    def action_test_connection(self):
        """Discover the source's objects, fields and counts."""
        for conn in self:
            source = conn._source()
            try:
                objects = source.discover()
            except Exception as exc:  # noqa: BLE001 - shown to the admin, secrets excluded by the connectors
                conn.write({"state": "error", "last_error": conn._safe_error(exc)})
                continue
            finally:
                source.close()
            conn.write({
                "state": "connected",
                "last_error": False,
                "discovery_json": [json.loads(o.model_dump_json()) for o in objects],
            })
        return True

    def _safe_error(self, exc):
        """An error text for the admin with every secret of this connection masked."""
        text = f"{type(exc).__name__}: {exc}"
        conn = self.sudo()
        for secret in (conn.client_secret, conn.access_token, conn.refresh_token, conn.api_key):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "«secret»")
        return text

    def _oauth_state_signature(self):
        self.ensure_one()
        return hmac(self.env(su=True), "flitstack-clio-oauth", str(self.id))

    def _clio_oauth(self):
        from flitstack_connectors.sources.clio import ClioOAuth

        conn = self.sudo()
        return ClioOAuth(conn.client_id or "", conn.client_secret or "", redirect_uri=self._oauth_redirect_uri(),
                         region=conn.clio_region or "us", base_url=conn.base_url or None)

    def action_clio_authorize(self):
        """Send the administrator to Clio to approve access."""
        self.ensure_one()
        if self.kind != "clio":
            raise UserError(_("Only Clio connections sign in with OAuth."))
        if not self.sudo().client_id or not self.sudo().client_secret:
            raise UserError(_("Fill in the OAuth client id and secret of your Clio developer application first."))
        url = self._clio_oauth().authorization_url(f"{self.id}.{self._oauth_state_signature()}")
        return {"type": "ir.actions.act_url", "url": url, "target": "self"}

    def _oauth_complete(self, code):
        """Exchange the authorization code for tokens and discover the account."""
        self.ensure_one()
        try:
            tokens = self._clio_oauth().exchange_code(code)
        except Exception as exc:  # noqa: BLE001 - reported to the admin without secrets
            self.write({"state": "error", "last_error": self._safe_error(exc)})
            return False
        self._store_tokens(tokens)
        self.action_test_connection()
        return True

    def action_clio_disconnect(self):
        """Revoke the tokens at Clio and forget them."""
        for conn in self.filtered(lambda c: c.kind == "clio" and c.sudo().access_token):
            from flitstack_connectors.http import TokenSet

            sconn = conn.sudo()
            try:
                conn._clio_oauth().deauthorize(TokenSet(access_token=sconn.access_token,
                                                        refresh_token=sconn.refresh_token or None))
            except Exception as exc:  # noqa: BLE001
                conn.message_post(body=_("Clio did not confirm the revocation: %s", conn._safe_error(exc)))
            sconn.write({"access_token": False, "refresh_token": False, "token_expires_at": False,
                         "state": "draft"})
        return True

    def _oauth_redirect_uri(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        return f"{base.rstrip('/')}/flitstack/oauth/clio/callback"

    # -- staff -------------------------------------------------------------------
    @staticmethod
    def _staff_objects(spec):
        """Source objects holding staff: those that user lookups of the map point at."""
        return sorted({row.object for om in spec.objects if om.enabled
                       for row in om.lookups if row.kind == "user" and row.object})

    def _sync_staff(self, spec):
        """Read the source's staff and match each to an Odoo user by email, case-insensitively."""
        self.ensure_one()
        objects = self._staff_objects(spec)
        if not objects:
            return self.staff_ids
        try:
            source = self._source()
            try:
                people = [rec for obj in objects for rec in source.read(obj)]
            finally:
                source.close()
        except FlitstackError as exc:
            raise UserError(_("Reading the source's staff failed: %s", self._safe_error(exc))) from None
        Users = self.env["res.users"].sudo().with_context(active_test=False)
        existing = {s.source_id: s for s in self.staff_ids}
        for rec in people:
            data = rec.data
            email = (data.get("email") or "").strip()
            name = data.get("name") or " ".join(
                p for p in (data.get("first_name"), data.get("last_name")) if p) or rec.source_id
            staff = existing.get(rec.source_id)
            vals = {"name": name, "email": email}
            if not (staff and staff.match == "manual"):
                user = Users.search(["|", ("email", "=ilike", email), ("login", "=ilike", email)], limit=1) \
                    if email else Users
                vals["user_id"] = user.id or False
            if staff:
                staff.write(vals)
            else:
                existing[rec.source_id] = self.env["flitstack.staff"].create(
                    dict(vals, connection_id=self.id, source_id=rec.source_id))
        return self.staff_ids

    def _check_staff_resolved(self, spec):
        """Refuse to start while staff have no Odoo user and no fallback owner is set."""
        self.ensure_one()
        self._sync_staff(spec)
        unmatched = self.staff_ids.filtered(lambda s: s.match == "none")
        if unmatched:
            raise UserError(_(
                "%(count)s source staff have no Odoo user (%(names)s): create users with their emails, "
                "pick their user by hand on the connection, or choose a fallback owner.",
                count=len(unmatched), names=", ".join(unmatched.mapped("source_id")[:20])))

    def _count_staff_records(self, spec):
        """Count, for each source staff member, the records the map would give them
        (through its user lookups: a matter's responsible attorney ...).  Staff
        that records name but the source's staff list lacks are added, unmatched."""
        self.ensure_one()
        by_object = {}
        for om in spec.objects:
            paths = [row.source for row in om.lookups if row.kind == "user"]
            if om.enabled and paths:
                by_object.setdefault(om.source_object, []).append((om, paths))
        counts = {}
        try:
            source = self._source()
            try:
                for obj, maps in by_object.items():
                    for rec in source.read(obj):
                        for om, paths in maps:
                            if not matches_filter(om, rec):
                                continue
                            owners = set()
                            for path in paths:
                                value = get_path(rec.data, path)
                                if isinstance(value, dict):
                                    value = value.get("id")
                                if value not in (None, ""):
                                    owners.add(str(value))
                            for owner in owners:
                                per_map = counts.setdefault(owner, {})
                                per_map[om.name] = per_map.get(om.name, 0) + 1
            finally:
                source.close()
        except FlitstackError as exc:
            raise UserError(_("Reading the source's records failed: %s", self._safe_error(exc))) from None
        Staff = self.env["flitstack.staff"]
        existing = {s.source_id: s for s in self.staff_ids}
        for owner in sorted(set(counts) - set(existing)):
            existing[owner] = Staff.create({
                "connection_id": self.id, "source_id": owner,
                "name": _("Staff %s (not in the source's staff list)", owner)})
        for source_id, staff in existing.items():
            per_map = counts.get(source_id, {})
            staff.write({
                "record_count": sum(per_map.values()),
                "record_summary": ", ".join(f"{name}: {n}" for name, n in sorted(per_map.items())) or False,
            })
        return self.staff_ids

    def action_sync_staff(self):
        """List the source's staff, match them to users by email and count the records each owns."""
        for conn in self:
            spec = conn._ensure_map()._spec()
            conn._sync_staff(spec)
            conn._count_staff_records(spec)
        return True

    def action_create_staff_users(self):
        """Create an Odoo user for every unmatched staff member that has an email."""
        for conn in self:
            conn.staff_ids.filtered(lambda s: not s.user_id and s.email).action_create_user()
        return True

    def _staff_user_map(self):
        """``{source staff id: (user id, how)}`` with how in email/manual/fallback/none."""
        self.ensure_one()
        fallback = self.fallback_user_id.id
        return {s.source_id: (s.user_id.id or (fallback if s.match == "fallback" else False), s.match)
                for s in self.staff_ids}

    def _provisioner(self):
        return FieldProvisioner(self)

    # -- map ---------------------------------------------------------------------
    def _ensure_map(self):
        """The current map, created from the default pack of this source kind when missing."""
        self.ensure_one()
        if not self.map_id:
            self.map_id = self.env["flitstack.map"].create_from_pack(self, DEFAULT_PACKS[self.kind])
        return self.map_id

    def action_propose_map(self):
        """Read the source (its objects and a few records of each), propose a map
        onto this database from the default pack of this kind of source, and
        keep it as a new draft version with one line per source field."""
        self.ensure_one()
        Map = self.env["flitstack.map"]
        pack = load_pack(DEFAULT_PACKS[self.kind])
        objects, samples = read_source(self, None, PROPOSAL_SAMPLE_SIZE)
        proposal = propose_map(objects, Map._target_schema(pack), samples, pack=pack)
        spec = proposal.to_spec()
        paths = {}
        for op in proposal.objects:
            paths.setdefault(op.source_object, set()).update(p for fp in op.fields for p in fp.sources)
        summaries = {obj: {p: s for p, s in sample_summaries(samples.get(obj, []), sorted(ps)).items() if s}
                     for obj, ps in paths.items()}
        version = max(self.with_context(active_test=False).map_ids.mapped("version") or [0]) + 1
        cmap = Map.create({
            "name": _("%(conn)s map (proposed)", conn=self.name), "connection_id": self.id, "version": version,
            "origin": "proposal", "spec_json": spec.model_dump(mode="json"), "samples_json": summaries,
            "line_ids": [],
        })
        Line = self.env["flitstack.map.line"]
        Line.create(Line._vals_from_proposal(cmap, proposal, summaries))
        cmap._generate_value_rows()
        self.write({"map_id": cmap.id, "state": "connected", "last_error": False,
                    "discovery_json": [json.loads(o.model_dump_json()) for o in objects]})
        ignored = len(cmap.line_ids.filtered(lambda l: l.state == "ignored"))
        cmap.message_post(body=_(
            "Proposed from %(objects)s source objects: %(rows)s rows in %(maps)s object maps (%(mapped)s mapped, "
            "%(ignored)s left out), %(review)s to review, %(custom)s new custom fields.", objects=len(objects),
            rows=cmap.line_count, maps=len(cmap.object_ids), mapped=cmap.line_count - ignored, ignored=ignored,
            review=cmap.review_count, custom=len(spec.custom_fields)))
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}

    def _preflight(self, cmap, store=True):
        """Pre-flight findings of ``cmap`` (create values); stored on the map when
        ``store``, keeping what the admin accepted."""
        self.ensure_one()
        findings = MapPreflight(cmap).run()
        if store:
            accepted = set(cmap.finding_ids.filtered("accepted").mapped("key"))
            cmap.finding_ids.unlink()
            self.env["flitstack.map.finding"].create(
                [dict(f, map_id=cmap.id, accepted=f["key"] in accepted) for f in findings])
            cmap.preflight_at = fields.Datetime.now()
            errors = sum(1 for f in findings if f["level"] == "error")
            cmap.message_post(body=_("Pre-flight: %(errors)s errors, %(warnings)s warnings.",
                                     errors=errors, warnings=len(findings) - errors))
        return findings

    def _check_preflight(self, cmap):
        """Refuse to start while pre-flight finds errors the admin has not accepted."""
        self.ensure_one()
        accepted = set(cmap.finding_ids.filtered("accepted").mapped("key"))
        findings = self._preflight(cmap, store=False)
        blocking = [f for f in findings if f["level"] == "error" and f["key"] not in accepted]
        if blocking:
            listed = " ".join(f"({i}) {f['message']}" for i, f in enumerate(blocking[:3], 1))
            if len(blocking) == 1:
                raise UserError(_(
                    "Pre-flight found a problem in map %(map)s that stops the run: %(message)s. Settle it on the "
                    "map (Pre-flight tab), or accept it there, then start the run again.",
                    map=cmap.display_name, message=blocking[0]["message"].rstrip(".")))
            raise UserError(_(
                "Pre-flight found %(count)s problems in map %(map)s that stop the run: %(listed)s%(more)s "
                "Press Pre-flight on the map to list them, settle or accept them there, then start the run again.",
                count=len(blocking), map=cmap.display_name, listed=listed,
                more=_(" … and %s more.", len(blocking) - 3) if len(blocking) > 3 else ""))
        cmap.finding_ids.unlink()
        self.env["flitstack.map.finding"].create(
            [dict(f, map_id=cmap.id, accepted=f["key"] in accepted) for f in findings])
        cmap.preflight_at = fields.Datetime.now()
        return findings

    def action_preflight(self):
        """Pre-flight of the current map, shown on the map."""
        self.ensure_one()
        cmap = self._ensure_map()
        cmap.action_preflight()
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}

    def action_remove_unused_fields(self):
        """Remove the custom fields this connection created that no record uses."""
        for conn in self:
            removed = conn._provisioner().remove_unused()
            conn.message_post(body=_("Unused custom fields removed: %s", ", ".join(removed))
                              if removed else _("Every custom field created for this connection holds values."))
        return True

    # -- runs ----------------------------------------------------------------------
    def _new_run(self, mode="full"):
        self.ensure_one()
        return self.env["flitstack.run"].create({"connection_id": self.id, "mode": mode})

    def action_new_run(self):
        self.ensure_one()
        run = self._new_run("full")
        return {
            "type": "ir.actions.act_window", "res_model": "flitstack.run", "res_id": run.id,
            "view_mode": "form", "target": "current",
        }

    def action_view_runs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Runs"), "res_model": "flitstack.run",
            "view_mode": "list,form", "domain": [("connection_id", "=", self.id)],
            "context": {"default_connection_id": self.id},
        }

    @api.model
    def _cron_delta_runs(self):
        """Start a delta run for every connection that asks for one and is idle."""
        for conn in self.search([("delta_enabled", "=", True), ("state", "=", "connected")]):
            busy = conn.run_ids.filtered(lambda r: r.state in ("running", "rolling_back"))
            if busy:
                _logger.info("flitstack connection %s: a run is in progress, delta postponed", conn.id)
                continue
            if not conn.run_ids.filtered(lambda r: r.state == "done"):
                continue
            try:
                conn._new_run("delta").action_start()
            except UserError as exc:
                conn.message_post(body=_("Scheduled delta run not started: %s", exc))
