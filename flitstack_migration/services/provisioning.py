"""Create the custom fields a map needs, idempotently, and show them.

:meth:`FieldProvisioner.provision`:

1. For every field of the map's custom-field manifest, check the target model
   exists (a model from a module that is not installed is reported by
   :meth:`FieldProvisioner.missing`, never forced).
2. Create the missing fields in one go as manual ``ir.model.fields`` with
   their sanitised ``x_`` name, type and selection values.  An existing field
   of the same name and type is kept; a selection field gets the options it
   lacks (existing options are never renamed or removed).
3. Record the fields created on the connection (``flitstack.provisioned.field``)
   so that unused ones can be removed later (:meth:`FieldProvisioner.remove_unused`).
4. Rebuild the "Migrated data" page of the partner and lead forms: one
   generated ``ir.ui.view`` per model, inheriting the model's main form and
   listing every provisioned field of that model.  It is found again by its
   name, rewritten only when the provisioned fields change, and removed when
   none is left.

Running it twice changes nothing: no field, option, record or view is written
the second time.
"""
import unicodedata

from odoo import _
from odoo.exceptions import UserError

from flitstack_connectors.mapping.transforms import selection_key

_TTYPES = {
    "char": "char", "text": "text", "html": "html", "integer": "integer", "float": "float",
    "monetary": "float", "date": "date", "datetime": "datetime", "boolean": "boolean",
    "selection": "selection", "many2one": "many2one",
}

#: the form each model's "Migrated data" page goes on
FORM_VIEWS = {
    "res.partner": "base.view_partner_form",
    "crm.lead": "crm.crm_lead_view_form",
    "sale.order": "sale.view_order_form",
    "account.move": "account.view_move_form",
}
#: name of the generated view of a model (how it is found again)
VIEW_NAME = "flitstack.migrated_data.%s"
#: a field the addon defines itself and shows on the page next to the provisioned ones
SOURCE_REF_FIELD = "x_flitstack_source_ref"
#: longest column name PostgreSQL accepts
MAX_NAME = 63


def sanitize_field_name(name):
    """An Odoo custom field name: ``x_`` prefix, lowercase ASCII letters, digits
    and single underscores, at most 63 characters."""
    decomposed = unicodedata.normalize("NFKD", (name or "").strip().lower())
    text = "".join(c if c.isascii() and c.isalnum() else "_" for c in decomposed if not unicodedata.combining(c))
    clean = "_".join(part for part in text.split("_") if part)
    if clean == "x":
        clean = ""
    if not clean.startswith("x_"):
        clean = "x_" + (clean or "field")
    return clean[:MAX_NAME].rstrip("_")


class FieldProvisioner:
    """Custom fields of one connection's maps."""

    def __init__(self, connection):
        self.connection = connection
        self.env = connection.env

    # -- what is missing -----------------------------------------------------------
    def missing(self, spec):
        """``[(model, name, reason)]`` for the manifest's fields that do not exist yet."""
        out = []
        for cf in spec.custom_fields:
            name = sanitize_field_name(cf.name)
            if cf.model not in self.env:
                out.append((cf.model, name, _("model %s is not installed", cf.model)))
            elif not self.installable(cf):
                out.append((cf.model, name, _("model %s, which the field links to, is not installed", cf.relation)))
            elif name not in self.env[cf.model]._fields:
                out.append((cf.model, name, _("field does not exist yet")))
        return out

    def installable(self, cf):
        """Whether custom field ``cf`` can exist here: its model and, for a link, the
        model it links to are installed (an app that is not installed leaves its
        maps and fields out, reported as not migrated)."""
        return cf.model in self.env and (cf.type != "many2one" or cf.relation in self.env)

    def needed(self, spec):
        """The missing fields of :meth:`missing` that this database can take."""
        installable = {(cf.model, sanitize_field_name(cf.name)) for cf in spec.custom_fields if self.installable(cf)}
        return [m for m in self.missing(spec) if (m[0], m[1]) in installable]

    def missing_options(self, spec):
        """``[(model, name, [keys])]`` for existing selection fields that lack options of the manifest."""
        out = []
        for cf in spec.custom_fields:
            name = sanitize_field_name(cf.name)
            if cf.type != "selection" or cf.model not in self.env:
                continue
            field = self.env[cf.model]._fields.get(name)
            if field is None or field.type != "selection":
                continue
            have = {key for key, _label in field._description_selection(self.env)}
            lacking = [key for key, _label in cf.selection if key not in have]
            if lacking:
                out.append((cf.model, name, lacking))
        return out

    # -- create ----------------------------------------------------------------------
    def provision(self, spec):
        """Create the missing fields and options; returns the ``ir.model.fields`` created."""
        IrFields = self.env["ir.model.fields"].sudo()
        Options = self.env["ir.model.fields.selection"].sudo()
        to_create = []
        options = []
        for cf in spec.custom_fields:
            if not self.installable(cf):
                continue
            name = sanitize_field_name(cf.name)
            ttype = _TTYPES[cf.type]
            existing = IrFields.search([("model", "=", cf.model), ("name", "=", name)], limit=1)
            if existing:
                if existing.ttype != ttype:
                    raise UserError(_(
                        "The field %(model)s.%(name)s exists with type %(old)s but the map needs %(new)s: "
                        "rename the map's field or remove the existing one.",
                        model=cf.model, name=name, old=existing.ttype, new=ttype))
                if ttype == "selection":
                    have = set(existing.selection_ids.mapped("value"))
                    last = max(existing.selection_ids.mapped("sequence") or [0])
                    for key, label in cf.selection:
                        if key not in have:
                            last += 1
                            have.add(key)
                            options.append({"field_id": existing.id, "value": key, "name": label,
                                            "sequence": last})
                continue
            if any(v["model_id"] == self.env["ir.model"]._get_id(cf.model) and v["name"] == name
                   for v in to_create):
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
                seen = set()
                vals["selection_ids"] = [(0, 0, {"value": k, "name": v, "sequence": i})
                                         for i, (k, v) in enumerate(cf.selection)
                                         if not (k in seen or seen.add(k))]
            if ttype == "many2one":
                vals["relation"] = cf.relation
                # links are searched by rollback (ondelete checks) and by record lookups
                vals["index"] = True
            to_create.append(vals)
        created = IrFields.create(to_create) if to_create else IrFields
        if options:
            Options.create(options)
        if created:
            self.env["flitstack.provisioned.field"].sudo().create(
                [{"connection_id": self.connection.id, "field_id": f.id} for f in created])
        self.refresh_form_views()
        return created

    # -- show ----------------------------------------------------------------------------
    def refresh_form_views(self, models=None, exclude=None):
        """Rebuild the "Migrated data" page of each form from the provisioned fields
        (of every connection); ``exclude`` (``ir.model.fields``) are left off."""
        View = self.env["ir.ui.view"].sudo()
        Provisioned = self.env["flitstack.provisioned.field"].sudo()
        exclude_ids = set(exclude.ids) if exclude else set()
        for model, parent_xmlid in FORM_VIEWS.items():
            if models is not None and model not in models:
                continue
            name = VIEW_NAME % model
            view = View.with_context(active_test=False).search([("name", "=", name), ("model", "=", model)])
            parent = self.env.ref(parent_xmlid, raise_if_not_found=False)
            fields = Provisioned.search([("model", "=", model)], order="id").mapped("field_id")
            fields = fields.filtered(lambda f: f.id not in exclude_ids)
            if parent is None or model not in self.env or not fields:
                view.unlink()
                continue
            arch = self._page_arch(model, fields.mapped("name"))
            if view:
                if view.arch_db != arch or view.inherit_id != parent:
                    view.write({"arch_db": arch, "inherit_id": parent.id})
            else:
                View.create({"name": name, "model": model, "inherit_id": parent.id, "mode": "extension",
                             "priority": 90, "arch_db": arch})

    def _page_arch(self, model, names):
        names = [n for n in dict.fromkeys(names)]
        if SOURCE_REF_FIELD in self.env[model]._fields and SOURCE_REF_FIELD not in names:
            names.insert(0, SOURCE_REF_FIELD)
        rows = "".join(f'<field name="{n}"/>' for n in names)
        return ('<data><xpath expr="//notebook" position="inside">'
                '<page string="Migrated data" name="flitstack_migrated_data">'
                f'<group name="flitstack_migrated_fields">{rows}</group>'
                '</page></xpath></data>')

    # -- remove --------------------------------------------------------------------------------
    def unused(self):
        """The fields this connection provisioned that no record holds a value in."""
        unused = self.env["ir.model.fields"]
        for pf in self.connection.provisioned_field_ids.sudo():
            field = pf.field_id
            if field.model not in self.env or field.name not in self.env[field.model]._fields:
                continue
            Model = self.env[field.model].sudo().with_context(active_test=False)
            if not Model.search_count([(field.name, "!=", False)], limit=1):
                unused |= field
        return unused

    def remove_unused(self):
        """Remove the provisioned fields no record uses; returns their ``model.name``."""
        fields = self.unused().sudo()
        if not fields:
            return []
        names = [f"{f.model}.{f.name}" for f in fields]
        self.refresh_form_views(exclude=fields)
        fields.unlink()
        return names

    # -- names -------------------------------------------------------------------------------------
    @staticmethod
    def option_key(value, taken):
        """A selection key for a source value, unique among ``taken``."""
        key = selection_key(str(value)) or "value"
        key = key[:MAX_NAME]
        candidate, n = key, 2
        while candidate in taken:
            candidate = f"{key}_{n}"
            n += 1
        return candidate
