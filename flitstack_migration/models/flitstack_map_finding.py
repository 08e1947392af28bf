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
    accepted = fields.Boolean(help="The admin accepted this error: it no longer stops the run. "
                                   "The records concerned end as failed audit lines with their reason.")
    can_add_options = fields.Boolean(compute="_compute_can_add_options")

    def _compute_can_add_options(self):
        for f in self:
            spec = f.map_id.spec_json or {}
            om = next((o for o in spec.get("objects", []) if o["name"] == f.object_map), None)
            f.can_add_options = bool(
                f.category == "unmapped_value" and f.values_json and om and any(
                    c["model"] == om["target_model"] and c["name"] == f.target and c["type"] == "selection"
                    for c in spec.get("custom_fields", [])))

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
        cmap.message_post(body=_("%(count)s options added to %(field)s: provision the fields, then confirm the map.",
                                 count=len(added), field=self.target))
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}
