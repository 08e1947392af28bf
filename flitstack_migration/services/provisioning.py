"""Create the custom fields a map needs, idempotently.

1. For every field of the map's custom-field manifest, check the target model
   exists (a model from a module that is not installed is reported, not forced).
2. Create missing fields as manual ``ir.model.fields`` with their type and
   selection values; an existing field of the same name and type is kept.
3. Record what was created on the connection so that unused fields can be
   removed later, and show the fields on the partner and lead forms
   ("Migrated data" page, built from the records of step 3).
"""
import re

from odoo import _
from odoo.exceptions import UserError

_TTYPES = {
    "char": "char", "text": "text", "html": "html", "integer": "integer", "float": "float",
    "monetary": "float", "date": "date", "datetime": "datetime", "boolean": "boolean",
    "selection": "selection", "many2one": "many2one",
}


def sanitize_field_name(name):
    """An Odoo custom field name: ``x_`` prefix, lowercase letters, digits and underscores, 63 chars."""
    clean = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    if not clean.startswith("x_"):
        clean = "x_" + clean
    return clean[:63]


class FieldProvisioner:
    def __init__(self, connection):
        self.connection = connection
        self.env = connection.env

    def missing(self, spec):
        """``[(model, name, reason)]`` for the manifest's fields that do not exist yet."""
        out = []
        for cf in spec.custom_fields:
            name = sanitize_field_name(cf.name)
            if cf.model not in self.env:
                out.append((cf.model, name, _("model %s is not installed", cf.model)))
            elif name not in self.env[cf.model]._fields:
                out.append((cf.model, name, _("field does not exist yet")))
        return out

    def provision(self, spec):
        """Create the missing fields; returns the ``ir.model.fields`` created."""
        IrFields = self.env["ir.model.fields"].sudo()
        created = IrFields
        for cf in spec.custom_fields:
            if cf.model not in self.env:
                continue
            name = sanitize_field_name(cf.name)
            existing = IrFields.search([("model", "=", cf.model), ("name", "=", name)], limit=1)
            ttype = _TTYPES[cf.type]
            if existing:
                if existing.ttype != ttype:
                    raise UserError(_(
                        "The field %(model)s.%(name)s exists with type %(old)s but the map needs %(new)s: "
                        "rename the map's field or remove the existing one.",
                        model=cf.model, name=name, old=existing.ttype, new=ttype))
                continue
            vals = {
                "model_id": self.env["ir.model"]._get_id(cf.model),
                "name": name,
                "field_description": cf.label,
                "ttype": ttype,
                "state": "manual",
                "help": cf.help or _("Created by FlitStack Migration (%s).", self.connection.name),
                "copied": False,
            }
            if ttype == "selection":
                vals["selection_ids"] = [(0, 0, {"value": k, "name": v, "sequence": i})
                                         for i, (k, v) in enumerate(cf.selection)]
            if ttype == "many2one":
                vals["relation"] = cf.relation
            created |= IrFields.create(vals)
        if created:
            self.env["flitstack.provisioned.field"].sudo().create(
                [{"connection_id": self.connection.id, "field_id": f.id} for f in created])
        return created
