from odoo import _, fields, models
from odoo.exceptions import UserError

CATEGORIES = [
    ("missing_field", "Missing field"),
    ("missing_option", "Missing selection option"),
    ("invalid_row", "Row this database cannot take"),
    ("unmapped_value", "Source value with no target"),
    ("required_field", "Required field with no source"),
    ("not_installed", "App not installed"),
    ("source", "Source"),
]


class FlitstackMapFinding(models.Model):
    """Something pre-flight found that the admin should settle before the run.

    Errors stop a run from starting until they are settled or accepted;
    warnings are listed only.  ``values`` lists the source values concerned
    (picklist values with no option, statuses with no stage): shown to the
    admin, never logged."""

    _name = "flitstack.map.finding"
    _description = "Migration map pre-flight finding"
    _order = "map_id, sequence, id"

    map_id = fields.Many2one("flitstack.map", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer()
    level = fields.Selection([("error", "Error"), ("warning", "Warning")], required=True, default="error")
    category = fields.Selection(CATEGORIES, required=True)
    object_map = fields.Char()
    target = fields.Char(string="Target field")
    message = fields.Text(required=True)
    values = fields.Char(string="Source values")
    values_json = fields.Json()
    key = fields.Char(required=True, help="Identifies the same finding in a later pre-flight.")
    #: those of ``values_json`` the source field no longer declares among its options (deleted there)
    undeclared_json = fields.Json()
    accepted = fields.Boolean(help="The admin accepted this error: it no longer stops the run. "
                                   "The records concerned end as failed audit lines with their reason.")
    can_add_options = fields.Boolean(compute="_compute_can_add_options")
    can_settle_values = fields.Boolean(compute="_compute_can_settle_values",
                                       help="Source values of a value map: they can be mapped to an existing "
                                            "value or left empty.")
    map_to = fields.Char(string="Map to", help="An existing value of the field to land these source values as "
                                               "(one of Map choices), then press Map.")
    map_to_choices = fields.Char(string="Map choices", compute="_compute_can_settle_values")
    resolution = fields.Selection([("options", "Added as options"), ("mapped", "Mapped to an existing value"),
                                   ("empty", "Left empty")], readonly=True, copy=False,
                                  help="How the admin settled these values, in a new draft version of the map.")

    def _compute_can_add_options(self):
        for f in self:
            spec = f.map_id.spec_json or {}
            om = next((o for o in spec.get("objects", []) if o["name"] == f.object_map), None)
            f.can_add_options = bool(
                f.category == "unmapped_value" and f.values_json and om and any(
                    c["model"] == om["target_model"] and c["name"] == f.target and c["type"] == "selection"
                    for c in spec.get("custom_fields", [])))

    def _value_map_row(self):
        """``(object map dict, row dict, value map name)`` of the row this finding is about, or Nones."""
        spec = self.map_id.spec_json or {}
        om = next((o for o in spec.get("objects", []) if o["name"] == self.object_map), None)
        row = om and next((r for r in [*om.get("fields", []), *om.get("lookups", [])]
                           if r["target"] == self.target and r.get("value_map") in spec.get("value_maps", {})), None)
        return om, row, row and row["value_map"]

    def _compute_can_settle_values(self):
        for f in self:
            _om, row, vm_name = f._value_map_row() if f.category == "unmapped_value" and f.values_json else (0, 0, 0)
            f.can_settle_values = bool(vm_name)
            f.map_to_choices = ", ".join(f.map_id._value_map_choices(f.object_map, f.target)) if vm_name else False

    def action_leave_empty(self):
        """Land the records holding these values with the field empty, the value and
        the reason on each record's audit line (in a new draft version when the
        map is confirmed); opens that map."""
        return self._settle("empty")

    def action_open_map_to(self):
        """A dialog to pick the existing value these source values land as."""
        self.ensure_one()
        if not self.can_settle_values:
            raise UserError(_("Only source values with no entry in a value map can be mapped; settle this finding "
                              "on the map's rows instead."))
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": self.id, "view_mode": "form",
                "views": [(self.env.ref("flitstack_migration.view_flitstack_map_finding_map_to").id, "form")],
                "target": "new", "name": _("Map %s values", self.target)}

    def action_map_values(self):
        """Land these source values as the existing value typed in Map to."""
        return self._settle("mapped")

    def _settle(self, how):
        self.ensure_one()
        if not self.can_settle_values:
            raise UserError(_("Only source values with no entry in a value map can be mapped or left empty; "
                              "settle this finding on the map's rows instead."))
        if how == "mapped" and not (self.map_to or "").strip():
            raise UserError(_("Type the value to map these source values to in Map to (one of: %s), then press Map.",
                              self.map_to_choices))
        cmap = self.map_id
        if cmap.state == "confirmed":
            cmap = cmap.browse(cmap.action_new_version()["res_id"])
        values = list(self.values_json)
        if how == "empty":
            undeclared = set(self.undeclared_json or [])
            settled = cmap._leave_values_empty(self.object_map, self.target, {
                v: (_("no longer an option of the source field (deleted there)") if v in undeclared
                    else _("no entry in the map's value map")) for v in values})
            body = _("%(count)s source values of %(field)s land with the field empty, each named on its record's "
                     "audit line: confirm the map.", count=len(settled), field=self.target)
        else:
            settled = cmap._map_values(self.object_map, self.target, values, self.map_to.strip())
            body = _("%(count)s source values of %(field)s land as %(to)s: confirm the map.",
                     count=len(settled), field=self.target, to=self.map_to.strip())
        self.resolution = how
        cmap.message_post(body=body)
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}

    def action_accept(self):
        self.write({"accepted": True})
        return True

    def action_reopen(self):
        self.write({"accepted": False})
        return True

    def action_add_options(self):
        """Add the source values as new options of the custom selection field
        (in a new draft version when the map is confirmed) and open that map."""
        self.ensure_one()
        if not self.can_add_options:
            raise UserError(_("Only values of a custom selection field can be added as options; map these values "
                              "in the value map of the row (Specification tab) instead."))
        cmap = self.map_id
        if cmap.state == "confirmed":
            cmap = cmap.browse(cmap.action_new_version()["res_id"])
        added = cmap._add_options(self.object_map, self.target, list(self.values_json))
        self.resolution = "options"
        cmap.message_post(body=_("%(count)s options added to %(field)s: provision the fields, then confirm the map.",
                                 count=len(added), field=self.target))
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}
