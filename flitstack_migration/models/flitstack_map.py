from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.mapping import MapSpec, load_pack


class FlitstackMap(models.Model):
    """A map of one connection.  A confirmed map is frozen: editing it means a
    new version, and every run keeps the version it used."""

    _name = "flitstack.map"
    _description = "Migration map"
    _inherit = ["mail.thread"]
    _order = "connection_id, version desc"

    name = fields.Char(required=True)
    connection_id = fields.Many2one("flitstack.connection", required=True, ondelete="cascade", index=True)
    version = fields.Integer(default=1, readonly=True)
    state = fields.Selection([("draft", "Draft"), ("confirmed", "Confirmed")], default="draft",
                             required=True, tracking=True)
    spec_json = fields.Json(string="Specification", required=True)
    confirmed_by = fields.Many2one("res.users", readonly=True)
    confirmed_at = fields.Datetime(readonly=True)
    run_ids = fields.One2many("flitstack.run", "map_id", string="Runs using this version")

    def _spec(self):
        self.ensure_one()
        return MapSpec.from_dict(self.spec_json)

    @api.model
    def create_from_pack(self, connection, pack_name):
        spec = load_pack(pack_name)
        return self.create({
            "name": _("%(conn)s map", conn=connection.name),
            "connection_id": connection.id,
            "spec_json": spec.model_dump(mode="json"),
        })

    def write(self, vals):
        if "spec_json" in vals and any(m.state == "confirmed" for m in self):
            raise UserError(_("A confirmed map cannot change: make a new version and confirm that one."))
        return super().write(vals)

    def action_confirm(self):
        for m in self:
            m._spec()  # raises MappingError naming the row when invalid
            m.write({"state": "confirmed", "confirmed_by": self.env.uid, "confirmed_at": fields.Datetime.now()})
        return True

    def action_new_version(self):
        self.ensure_one()
        new = self.copy({"version": self.version + 1, "state": "draft", "spec_json": self.spec_json})
        self.connection_id.map_id = new
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": new.id, "view_mode": "form"}

    def action_provision_fields(self):
        for m in self:
            m.connection_id._provisioner().provision(m._spec())
        return True
