"""The map as an administrator reviews it.

- Rows are grouped by object map (``flitstack.map.object``), named for people:
  "Patient → Contact", the technical names (``clinic_patient_partner``,
  ``res.partner``) only in developer mode.
- A row's target is picked among the fields of its object map's model (a
  Many2one to ``ir.model.fields``), or made a new custom field of a chosen type.
- Confidence falls in three bands, high, review and low, so that what needs an
  admin's eyes stands out; the list's legend says what the colours mean.
- The chatter counts the rows the Rows button counts.
"""
import json
import re
from functools import lru_cache

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.mapping import MapSpec, TargetSchema

from ..services.provisioning import sanitize_field_name

#: confidence from which a row is taken as proposed without review
HIGH_CONFIDENCE = 0.9
#: below this a row is likely wrong (the existing "low confidence" mark)
REVIEW_CONFIDENCE = 0.6

BANDS = [("high", "High"), ("review", "Review"), ("low", "Low")]

#: types an admin may give a new custom field from the list (a selection needs its options,
#: a many2one its model: those come from proposals and value maps)
NEW_FIELD_TYPES = [
    ("char", "Text (one line)"), ("text", "Text (several lines)"), ("html", "Formatted text"),
    ("integer", "Whole number"), ("float", "Decimal number"), ("boolean", "Yes / no"),
    ("date", "Date"), ("datetime", "Date and time"), ("selection", "Choice (selection)"),
    ("many2one", "Link to a record"), ("monetary", "Amount"),
]

#: the source-name prefix of object maps in the packs: "clio_company" is a company
_SOURCE_PREFIXES = ("clio_", "cliniko_", "clientjoy_", "clinic_")


@lru_cache(maxsize=1)
def _snapshot_labels():
    return dict(TargetSchema.load_snapshot().model_labels)


def humanize(name):
    """``"clinic_patient_partner"`` -> ``"Patient partner"``."""
    text = name or ""
    for prefix in _SOURCE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = re.sub(r"[_.]+", " ", text).strip()
    return text[:1].upper() + text[1:] if text else (name or "")


def confidence_band(confidence):
    if confidence >= HIGH_CONFIDENCE:
        return "high"
    return "review" if confidence >= REVIEW_CONFIDENCE else "low"


class FlitstackMapObject(models.Model):
    """One object map of a map version, as reviewed: where the records of a
    source object land, and the rows that say how."""

    _name = "flitstack.map.object"
    _description = "Migration map: object map"
    _order = "map_id, sequence, id"

    map_id = fields.Many2one("flitstack.map", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer()
    name = fields.Char(string="Technical name", required=True, readonly=True)
    source_object = fields.Char(readonly=True)
    target_model = fields.Char(string="Target model (technical)", readonly=True)
    label = fields.Char(compute="_compute_labels", string="Object map")
    target_model_label = fields.Char(compute="_compute_labels", string="Lands in")
    description = fields.Text(readonly=True)
    line_ids = fields.One2many("flitstack.map.line", "object_id", string="Map rows")
    line_count = fields.Integer(compute="_compute_counts", string="Rows")
    review_count = fields.Integer(compute="_compute_counts", string="To review")
    custom_count = fields.Integer(compute="_compute_counts", string="New fields")
    ignored_count = fields.Integer(compute="_compute_counts", string="Left out")

    _sql_constraints = [("name_per_map", "unique(map_id, name)", "An object map appears once per map version.")]

    @api.depends("name", "target_model")
    def _compute_labels(self):
        for obj in self:
            model = obj.target_model or ""
            if model in self.env:
                target = self.env["ir.model"]._get(model).name or model
            else:
                target = _snapshot_labels().get(model) or model
            obj.target_model_label = target
            obj.label = f"{humanize(obj.name)} → {target}"

    @api.depends("label")
    def _compute_display_name(self):
        for obj in self:
            obj.display_name = obj.label

    @api.depends("line_ids.state", "line_ids.confidence_band", "line_ids.custom_field_json", "line_ids.target_field")
    def _compute_counts(self):
        for obj in self:
            obj.line_count = len(obj.line_ids)
            obj.review_count = len(obj.line_ids.filtered("needs_review"))
            obj.custom_count = len(obj.line_ids.filtered(lambda l: l.is_custom and l.state != "ignored"))
            obj.ignored_count = len(obj.line_ids.filtered(lambda l: l.state == "ignored"))

    def action_view_lines(self):
        self.ensure_one()
        action = self.map_id.action_view_lines()
        action.update(name=_("Rows of %s", self.label), domain=[("object_id", "=", self.id)])
        action["context"] = {k: v for k, v in action["context"].items() if not k.startswith("search_default_group")}
        return action


class FlitstackMapLine(models.Model):
    _inherit = "flitstack.map.line"

    object_map = fields.Char(string="Object map (technical)")
    target_field = fields.Char(string="Target field (technical)")
    object_id = fields.Many2one("flitstack.map.object", string="Object map", index=True, ondelete="set null",
                                readonly=True)
    confidence_band = fields.Selection(
        BANDS, compute="_compute_confidence_band", store=True, string="Confidence band",
        help="High: 90% and above, taken as proposed. Review: 60 to 89%, worth a look. Low: below 60%, "
             "likely wrong.")
    needs_review = fields.Boolean(compute="_compute_confidence_band", store=True, string="To review")
    target_field_id = fields.Many2one(
        "ir.model.fields", string="Target", compute="_compute_target_field_id", inverse="_inverse_noop",
        readonly=False, help="The field of the object map's model this value lands in.")
    new_field_type = fields.Selection(
        NEW_FIELD_TYPES, string="New field type", compute="_compute_new_field_type", inverse="_inverse_noop",
        readonly=False,
        help="Make this row a new custom field of this type, created by Provision fields; empty for an "
             "existing field.")

    @api.depends("confidence")
    def _compute_confidence_band(self):
        for line in self:
            line.confidence_band = confidence_band(line.confidence or 0.0)
            line.needs_review = line.confidence_band != "high"

    @api.depends("target_model", "target_field")
    def _compute_target_field_id(self):
        Fields = self.env["ir.model.fields"].sudo()
        wanted = {(l.target_model, (l.target_field or "").strip()) for l in self if l.target_model and l.target_field}
        found = {}
        for model in {m for m, _n in wanted}:
            names = [n for m, n in wanted if m == model]
            for f in Fields.search([("model", "=", model), ("name", "in", names)]):
                found[(model, f.name)] = f.id
        for line in self:
            line.target_field_id = found.get((line.target_model, (line.target_field or "").strip()), False)

    @api.depends("custom_field_json", "target_field")
    def _compute_new_field_type(self):
        for line in self:
            line.new_field_type = line.custom_field_json.get("type") if line.is_custom else False

    def _inverse_noop(self):
        """Written in :meth:`write`, which sees both fields of one edit together."""

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines._link_objects()
        return lines

    def write(self, vals):
        vals = dict(vals)
        picked, field_id = "target_field_id" in vals, vals.pop("target_field_id", False)
        new_type = vals.pop("new_field_type", False)
        res = super().write(vals) if vals else True
        if picked:
            field = self.env["ir.model.fields"].sudo().browse(field_id)
            for line in self:
                if field and field.model != line.target_model:
                    raise UserError(_("%(row)s lands in %(model)s: pick one of its fields, not a field of %(other)s.",
                                      row=line._label(), model=line.target_model, other=field.model))
            picked_vals = {"target_field": field.name or False}
            if field and "state" not in vals:
                # picking a target for a row that was left out maps it
                self.filtered(lambda l: l.state == "ignored").with_context(
                    flitstack_map_sync=self.env.context.get("flitstack_map_sync")).write({"state": "proposed"})
            super().write(picked_vals)
        elif new_type:
            for line in self:
                line._make_custom(new_type)
        return res

    def _make_custom(self, ttype):
        """Make this row write a new custom field of type ``ttype``."""
        self.ensure_one()
        if self.row_type == "lookup" and ttype != "many2one":
            raise UserError(_("%s is a reference to another record: it lands in a link field, not in a %s field.",
                              self._label(), dict(NEW_FIELD_TYPES)[ttype]))
        cf = dict(self.custom_field_json) if self.is_custom else {}
        if cf.get("type") == ttype:
            return
        if ttype in ("selection", "many2one") and cf.get("type") != ttype:
            raise UserError(_(
                "%(row)s: a new %(kind)s field needs its %(what)s, which the list cannot give. Pick one of the "
                "text, number, date or yes/no types, or map the row to an existing field.",
                row=self._label(), kind=dict(NEW_FIELD_TYPES)[ttype],
                what=_("options") if ttype == "selection" else _("linked model")))
        if not cf:
            source = (self.source_path or "field").split(" + ")[0].split(".")[-1]
            cf = {"model": self.target_model, "name": sanitize_field_name(f"x_flitstack_{source}"),
                  "label": humanize(source)}
        cf["type"] = ttype
        cf.pop("selection", None) if ttype != "selection" else None
        if ttype != "many2one":
            cf.pop("relation", None)
        vals = {"custom_field_json": cf, "target_field": cf["name"]}
        if self.state == "ignored":
            vals["state"] = "proposed"
        super(FlitstackMapLine, self).write(vals)

    def _link_objects(self):
        """Each line to the object map of its own map version (a copied line points at its old map's)."""
        for cmap in self.mapped("map_id"):
            objects = {o.name: o for o in cmap.object_ids}
            order = {om["name"]: (i, om) for i, om in enumerate((cmap.spec_json or {}).get("objects", []))}
            for line in self.filtered(lambda l: l.map_id == cmap):
                if line.object_id.map_id == cmap and line.object_id.name == line.object_map:
                    continue
                obj = objects.get(line.object_map)
                if obj is None:
                    index, om = order.get(line.object_map, (len(order), {}))
                    obj = objects[line.object_map] = self.env["flitstack.map.object"].create({
                        "map_id": cmap.id, "name": line.object_map, "sequence": index,
                        "source_object": line.source_object or om.get("source_object"),
                        "target_model": line.target_model, "description": om.get("description") or False})
                line.with_context(flitstack_map_sync=True).object_id = obj


class FlitstackMap(models.Model):
    _inherit = "flitstack.map"

    object_ids = fields.One2many("flitstack.map.object", "map_id", string="Object maps", copy=False)
    review_count = fields.Integer(compute="_compute_review_count", string="To review")
    spec_summary = fields.Text(compute="_compute_spec_text", string="What the map does")
    spec_text = fields.Text(compute="_compute_spec_text", inverse="_inverse_spec_text",
                            string="Specification (JSON)")

    @api.depends("line_ids.needs_review")
    def _compute_review_count(self):
        for m in self:
            m.review_count = len(m.line_ids.filtered("needs_review"))

    @api.depends("spec_json")
    def _compute_spec_text(self):
        for m in self:
            if not m.spec_json:
                m.spec_summary = m.spec_text = False
                continue
            m.spec_text = json.dumps(m.spec_json, indent=2, ensure_ascii=False)
            m.spec_summary = m._describe_spec()

    def _describe_spec(self):
        """The specification in sentences: one per object map, then value maps and custom fields."""
        self.ensure_one()
        try:
            spec = MapSpec.from_dict(self.spec_json)
        except Exception:  # noqa: BLE001 - a broken specification is shown as such, the JSON tells why
            return _("The specification does not read as a map: correct it in developer mode.")
        labels = {o.name: o.label for o in self.object_ids}
        out = []
        for om in spec.objects:
            label = labels.get(om.name) or f"{humanize(om.name)} → {om.target_model}"
            state = "" if om.enabled else _(" (disabled)")
            out.append(_("%(label)s%(state)s: %(fields)s values and %(refs)s references from %(origin)s%(filter)s.",
                         label=label, state=state, fields=len(om.fields), refs=len(om.lookups),
                         origin=om.source_object,
                         filter=_(", only records where %s", ", ".join(f"{k} = {v}" for k, v in om.filter.items()))
                         if om.filter else ""))
        out.append("")
        out.append(_("%(maps)s value maps (%(values)s source values), %(custom)s custom fields.",
                     maps=len(spec.value_maps), values=sum(len(v.values) for v in spec.value_maps.values()),
                     custom=len(spec.custom_fields)))
        return "\n".join(out)

    def _inverse_spec_text(self):
        for m in self:
            try:
                data = json.loads(m.spec_text or "")
            except ValueError as exc:
                raise UserError(_("The specification is not valid JSON (%s): correct it and save again.", exc)) \
                    from None
            if data != m.spec_json:
                m.spec_json = data

    def _generate_lines(self):
        res = super()._generate_lines()
        self.object_ids.filtered(lambda o: not o.line_ids).unlink()
        return res

    def action_view_lines(self):
        action = super().action_view_lines()
        context = dict(action.get("context") or {})
        if self.env.context.get("search_default_to_review"):
            context.pop("search_default_to_review", None)
            context["search_default_needs_review"] = 1
        context["search_default_group_object"] = 1
        action["context"] = context
        return action
