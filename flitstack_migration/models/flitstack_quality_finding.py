import re

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.errors import FlitstackError
from flitstack_connectors.quality import FINDING_KINDS, audit

from ..services.loader import BODY_LIMIT_PARAM, DEFAULT_BODY_LIMIT, SPLIT_FIELDS

KIND_LABELS = {
    "missing_id": "Missing id",
    "duplicate_id": "Repeated id",
    "malformed_date": "Unreadable date",
    "unreadable_bytes": "Unreadable characters",
    "unreadable_row": "Unreadable row",
    "malformed_email": "Malformed email",
    "duplicate_person": "Duplicate person",
    "orphan_reference": "Orphan reference",
    "owner_without_user": "Staff without user",
    "text_too_long": "Text too long",
    "record_problem": "Other problem",
}
_LENGTH = re.compile(r"has ([\d,]+) characters")


class FlitstackQualityFinding(models.Model):
    """One thing wrong with one source record, found by the data-quality audit
    before a run.  Messages name objects, fields, rows and ids, never values."""

    _name = "flitstack.quality.finding"
    _description = "Data-quality finding"
    _order = "connection_id, id"
    _rec_name = "message"

    connection_id = fields.Many2one("flitstack.connection", required=True, ondelete="cascade", index=True,
                                    readonly=True)
    object_name = fields.Char(string="Object", readonly=True, index=True)
    source_id = fields.Char(string="Source id", readonly=True)
    row_number = fields.Integer(readonly=True, help="Line in the export file, for file sources.")
    kind = fields.Selection([(k, KIND_LABELS[k]) for k in FINDING_KINDS], required=True, readonly=True,
                            index=True)
    field_name = fields.Char(string="Field", readonly=True)
    message = fields.Text(readonly=True)
    related_ids = fields.Char(string="Same as", readonly=True,
                              help="Source ids of the records this one duplicates.")


class FlitstackConnection(models.Model):
    _inherit = "flitstack.connection"

    quality_state = fields.Selection(
        [("none", "Not checked"), ("running", "Checking"), ("done", "Checked"), ("failed", "Check failed")],
        string="Data quality", default="none", readonly=True, copy=False)
    quality_checked_at = fields.Datetime(readonly=True, copy=False)
    quality_counts = fields.Json(readonly=True, copy=False, help="Findings per kind.")
    quality_records = fields.Json(readonly=True, copy=False, help="Records read per object.")
    quality_error = fields.Text(readonly=True, copy=False)
    quality_finding_ids = fields.One2many("flitstack.quality.finding", "connection_id", readonly=True)
    quality_finding_count = fields.Integer(compute="_compute_quality_summary")
    quality_summary = fields.Text(compute="_compute_quality_summary")

    @api.depends("quality_state", "quality_counts", "quality_records", "quality_error")
    def _compute_quality_summary(self):
        labels = dict(self.env["flitstack.quality.finding"]._fields["kind"].selection)
        for conn in self:
            counts = conn.quality_counts or {}
            conn.quality_finding_count = sum(counts.values())
            if conn.quality_state == "running":
                conn.quality_summary = _("The check is running.")
            elif conn.quality_state == "failed":
                conn.quality_summary = _("The check failed: %s", conn.quality_error or "")
            elif conn.quality_state == "done":
                read = sum((conn.quality_records or {}).values())
                lines = [_("%(records)s records read, %(findings)s findings.",
                           records=f"{read:,}", findings=f"{sum(counts.values()):,}")]
                lines += [f"{labels.get(kind, kind)}: {n:,}" for kind, n in counts.items()]
                conn.quality_summary = "\n".join(lines)
            else:
                conn.quality_summary = False

    # -- the check -----------------------------------------------------------------
    def action_quality_audit(self):
        """Enqueue the data-quality audit of the source."""
        for conn in self:
            if conn.quality_state == "running":
                raise UserError(_("The data-quality check of %s is already running: wait for it to finish.",
                                  conn.display_name))
            conn.write({"quality_state": "running", "quality_error": False})
            conn.with_delay(description=f"{conn.name}: check data quality")._job_quality_audit()
        return True

    def _job_quality_audit(self):
        """Read the source, audit it against the map and Odoo's users, and keep
        the findings record by record in place of the previous ones."""
        self.ensure_one()
        spec = self._ensure_map()._spec()
        maps = [om for om in spec.objects if om.enabled]
        staff = self._staff_objects(spec)
        users = self.env["res.users"].sudo().with_context(active_test=False).search([])
        emails = {e for u in users for e in (u.email, u.login) if e and "@" in e}
        limits, targets = self._quality_text_limits(maps)
        try:
            source = self._source()
            try:
                available = getattr(source, "available_objects", None)
                present = set(available() if callable(available) else source.object_order)
                objects = [o for o in source.object_order
                           if o in present and (o in staff or any(om.source_object == o for om in maps))]
                report = audit(source, objects, known_user_emails=emails, text_limits=limits,
                               user_objects=staff or None)
            finally:
                source.close()
        except (FlitstackError, ValueError) as exc:  # ValueError: a file the source cannot take apart
            error = self._safe_error(exc)
            self.write({"quality_state": "failed", "quality_error": error})
            return _("failed: %s", error)
        # findings are written by the check alone: the access rules let administrators read them only
        self.sudo().quality_finding_ids.unlink()
        self.env["flitstack.quality.finding"].sudo().create([{
            "connection_id": self.id,
            "object_name": f.object,
            "source_id": f.source_id,
            "row_number": f.row_number or False,
            "kind": f.kind if f.kind in KIND_LABELS else "record_problem",
            "field_name": f.field or False,
            "message": self._quality_message(f, targets),
            "related_ids": ", ".join(f.related_ids[:20]) or False,
        } for f in report.findings])
        self.write({
            "quality_state": "done", "quality_checked_at": fields.Datetime.now(),
            "quality_counts": report.counts, "quality_records": report.records, "quality_error": False,
        })
        return ", ".join(f"{n} {kind}" for kind, n in report.counts.items()) or "no findings"

    def _quality_text_limits(self, maps):
        """``({"object.field": limit}, {(object, field): (model, target, split)})`` for
        source fields written whole to a target whose length is bounded: a char
        field with a size, or a note (HTML or long text; a message body is split
        at the limit, other notes are loaded whole)."""
        try:
            note_limit = int(self.env["ir.config_parameter"].sudo().get_param(BODY_LIMIT_PARAM, DEFAULT_BODY_LIMIT))
        except ValueError:
            note_limit = DEFAULT_BODY_LIMIT
        limits, targets = {}, {}
        for om in maps:
            if om.target_model not in self.env:
                continue
            model = self.env[om.target_model]
            for row in om.fields:
                field = model._fields.get(row.target)
                if not row.source or field is None or not re.fullmatch(r"\w+", row.source):
                    continue
                if row.value_map:
                    continue  # the value that lands is the mapped one, not the source's text
                if field.type == "char" and field.size:
                    limit, how = field.size, "cut"
                elif field.type in ("html", "text"):
                    limit = note_limit
                    how = "split" if SPLIT_FIELDS.get(om.target_model) == row.target else "whole"
                else:
                    continue
                key = f"{om.source_object}.{row.source}"
                if key not in limits or limit < limits[key]:
                    limits[key] = limit
                    targets[(om.source_object, row.source)] = (om.target_model, row.target, how, limit)
        return limits, targets

    @staticmethod
    def _quality_message(finding, targets):
        if finding.kind != "text_too_long" or (finding.object, finding.field) not in targets:
            return finding.message
        model, target, how, limit = targets[(finding.object, finding.field)]
        length = _LENGTH.search(finding.message)
        size = length.group(1) if length else f"more than {limit:,}"
        if how == "split":
            return (f"{finding.field} has {size} characters: it lands as several {model} records of at most "
                    f"{limit:,} characters each (Part 1 of n ...); nothing is cut")
        if how == "whole":
            return (f"{finding.field} has {size} characters, more than the {limit:,} of a note "
                    f"(system parameter {BODY_LIMIT_PARAM}); it is loaded whole into {model}.{target}: "
                    f"shorten it in the source if it should not be")
        return finding.message

    def action_view_quality_findings(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Data-quality findings"),
            "res_model": "flitstack.quality.finding", "view_mode": "list,form",
            "domain": [("connection_id", "=", self.id)],
            "context": {"search_default_group_kind": 1},
        }
