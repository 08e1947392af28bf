from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.mapping import LookupRow
from flitstack_connectors.mapping.apply import get_path
from flitstack_connectors.mapping.transforms import TRANSFORMS

#: rows proposed with less confidence than this stand out in the list
LOW_CONFIDENCE = 0.6
#: sampled values shown beside a row: how many, and how long each
SAMPLE_VALUES = 3
SAMPLE_VALUE_LENGTH = 40


def _transform_selection(_model):
    return [(name, name.replace("_", " ")) for name in sorted(TRANSFORMS)]


def summarize_values(values):
    """A few distinct non-empty values as one short text: ``"Open | Closed"``."""
    seen = {}
    for value in values:
        if isinstance(value, dict):
            value = value.get("name", value.get("id"))
        if isinstance(value, list):
            value = value[0] if value else None
        if value in (None, "", False):
            continue
        text = " ".join(str(value).split())
        if len(text) > SAMPLE_VALUE_LENGTH:
            text = text[:SAMPLE_VALUE_LENGTH - 1] + "…"
        seen.setdefault(text, None)
        if len(seen) >= SAMPLE_VALUES:
            break
    return " | ".join(seen)


def sample_summaries(records, paths):
    """``{path: summary}`` of ``paths`` over sampled ``records``."""
    return {path: summarize_values(get_path(r.data, path) for r in records) for path in paths}


class FlitstackMapFrozen(models.AbstractModel):
    """Rows of a map (field rows, value-map rows) change only while the map is
    a draft: a confirmed map is frozen, its runs name the version they used.
    The map itself rewrites its rows when it syncs them (``flitstack_map_sync``).
    A model using it has a ``map_id``."""

    _name = "flitstack.map.frozen"
    _description = "Migration map: rows frozen with a confirmed map"

    def _check_editable(self):
        if self.env.context.get("flitstack_map_sync"):
            return
        if any(row.map_id.state == "confirmed" for row in self):
            raise UserError(_("A confirmed map cannot change: make a new version and confirm that one."))

    @api.model_create_multi
    def create(self, vals_list):
        rows = super().create(vals_list)
        rows._check_editable()
        return rows

    def write(self, vals):
        self._check_editable()
        return super().write(vals)

    def unlink(self):
        self._check_editable()
        return super().unlink()


class FlitstackMapLine(models.Model):
    """One row of a map: a source field and where it lands.

    Lines are generated from the map's specification (or from a proposal,
    with confidence, reason and sampled values) and rebuilt into it when the
    map is confirmed.  Sampled values are the admin's own records: shown here,
    never logged."""

    _name = "flitstack.map.line"
    _inherit = ["flitstack.map.frozen"]
    _description = "Migration map row"
    _order = "map_id, sequence, id"

    map_id = fields.Many2one("flitstack.map", required=True, ondelete="cascade", index=True)
    map_state = fields.Selection(related="map_id.state", string="Map state")
    sequence = fields.Integer(string="#", readonly=True)
    object_map = fields.Char(string="Object map", required=True, readonly=True)
    source_object = fields.Char(readonly=True)
    source_path = fields.Char(string="Source field", readonly=True)
    row_type = fields.Selection([("field", "Value"), ("lookup", "Reference")], default="field",
                                required=True, readonly=True)
    lookup_kind = fields.Char(string="Reference to", readonly=True,
                              help="What a reference row points at: another migrated object, a user, a stage …")
    target_model = fields.Char(required=True, readonly=True)
    target_field = fields.Char(help="Technical name of the field the value lands in (x_… for custom fields).")
    target_label = fields.Char(compute="_compute_target_label", string="Target label")
    transform = fields.Selection(_transform_selection)
    value_map = fields.Char(help="Name of a value map of the specification applied to the value.")
    confidence = fields.Float(digits=(3, 2), readonly=True)
    low_confidence = fields.Boolean(compute="_compute_low_confidence", store=True)
    reason = fields.Char(readonly=True)
    sample_values = fields.Char(string="Sampled values", readonly=True,
                                help="A few values of this field in records read from the source.")
    state = fields.Selection([("proposed", "Proposed"), ("confirmed", "Confirmed"), ("ignored", "Ignored")],
                             default="proposed", required=True, copy=True)
    is_custom = fields.Boolean(compute="_compute_is_custom", string="New field")
    row_json = fields.Json(readonly=True)
    custom_field_json = fields.Json(readonly=True)

    @api.depends("confidence", "state")
    def _compute_low_confidence(self):
        for line in self:
            line.low_confidence = line.state != "ignored" and line.confidence < LOW_CONFIDENCE

    @api.depends("target_model", "target_field", "custom_field_json")
    def _compute_target_label(self):
        for line in self:
            model = self.env.get(line.target_model) if line.target_model else None
            field = model._fields.get(line.target_field) if model is not None and line.target_field else None
            if field is not None:
                line.target_label = field._description_string(self.env)
            elif line.is_custom:
                line.target_label = _("%s (new custom field)", line.custom_field_json.get("label") or line.target_field)
            else:
                line.target_label = False

    @api.depends("custom_field_json", "target_field")
    def _compute_is_custom(self):
        for line in self:
            line.is_custom = bool(line.custom_field_json) and line.custom_field_json.get("name") == line.target_field

    def action_ignore(self):
        self.write({"state": "ignored"})
        return True

    def action_restore(self):
        self.write({"state": "proposed"})
        return True

    # -- rows ---------------------------------------------------------------------------------
    def _label(self):
        self.ensure_one()
        return _("Row %(row)s (%(map)s: %(path)s -> %(model)s.%(field)s)", row=self.sequence,
                 map=self.object_map, path=self.source_path or _("no source"), model=self.target_model,
                 field=(self.target_field or "?").strip())

    def _row_dict(self, target):
        """The specification row of this line, with the admin's edits."""
        self.ensure_one()
        row = dict(self.row_json or {})
        if not row:
            row = {"source": self.source_path}
        row["target"] = target
        if self.row_type == "field":
            if (row.get("transform") or None) != (self.transform or None):
                row["args"] = {}
            row["transform"] = self.transform or None
        row["value_map"] = self.value_map or None
        return row

    @api.model
    def _vals_from_spec(self, cmap, spec):
        """Create values of one line per row of ``spec``."""
        samples = cmap.samples_json or {}
        custom = {(cf.model, cf.name): cf.model_dump(mode="json") for cf in spec.custom_fields}
        state = "confirmed" if cmap.state == "confirmed" else "proposed"
        out = []
        for om in spec.objects:
            known = samples.get(om.source_object) or {}
            rows = [("field", r) for r in om.fields] + [("lookup", r) for r in om.lookups]
            for row_type, row in rows:
                paths = [row.source] if row.source else list(getattr(row, "sources", []) or [])
                out.append(self._vals(
                    cmap, len(out) + 1, om, row_type, row, paths, state,
                    confidence=row.confidence if row.confidence is not None else 1.0,
                    reason=row.reason or _("in the map's specification"),
                    sample=" + ".join(s for s in (known.get(p) for p in paths) if s),
                    custom=custom.get((om.target_model, row.target))))
        return out

    @api.model
    def _vals_from_proposal(self, cmap, proposal, summaries):
        """Create values of one line per proposed field (ignored ones included,
        so that the admin sees every source field and may still map it)."""
        out = []
        for op in proposal.objects:
            if not op.target_model or op.resolve_users:
                continue
            known = summaries.get(op.source_object) or {}
            for fp in op.fields:
                row = fp.row
                sample = " + ".join(s for s in (known.get(p) for p in fp.sources) if s)
                if row is None or fp.action == "skip":
                    out.append({
                        "map_id": cmap.id, "sequence": len(out) + 1, "object_map": op.name,
                        "source_object": op.source_object, "source_path": " + ".join(fp.sources),
                        "row_type": "field", "target_model": op.target_model, "target_field": False,
                        "confidence": round(fp.confidence, 2), "reason": fp.reason, "sample_values": sample,
                        "state": "ignored", "row_json": False, "custom_field_json": False,
                    })
                    continue
                row = row.model_copy(update={
                    "confidence": row.confidence if row.confidence is not None else round(fp.confidence, 2),
                    "reason": row.reason or fp.reason})
                out.append(self._vals(
                    cmap, len(out) + 1, op, "lookup" if isinstance(row, LookupRow) else "field",
                    row, fp.sources, "proposed", confidence=round(fp.confidence, 2), reason=fp.reason,
                    sample=sample,
                    custom=fp.custom_field.model_dump(mode="json") if fp.custom_field is not None else None))
        return out

    @api.model
    def _vals(self, cmap, sequence, om, row_type, row, paths, state, confidence, reason, sample, custom):
        if row_type == "lookup":
            kind = {"record": _("%s records", row.object), "user": _("users (source staff)"),
                    "xmlid": _("existing records (XML id)"), "name": _("existing records (by name)"),
                    "email": _("existing users or partners (by email)")}
            lookup_kind = kind.get(row.kind, row.kind)
        else:
            lookup_kind = False
        return {
            "map_id": cmap.id, "sequence": sequence, "object_map": om.name, "source_object": om.source_object,
            "source_path": " + ".join(paths) if paths else _("(default)"), "row_type": row_type,
            "lookup_kind": lookup_kind, "target_model": om.target_model, "target_field": row.target,
            "transform": getattr(row, "transform", None) or False, "value_map": row.value_map or False,
            "confidence": confidence, "reason": (reason or "")[:500], "sample_values": sample or False,
            "state": state, "row_json": row.model_dump(mode="json"), "custom_field_json": custom or False,
        }
