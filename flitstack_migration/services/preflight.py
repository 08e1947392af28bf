"""Pre-flight: what a map needs settled before any record moves.

:meth:`MapPreflight.run`:

1. Read what the source holds: its objects (with declared picklist values)
   and a sample of records of every object the map reads.
2. Missing fields: custom fields of the manifest that do not exist yet, and
   selection options of existing ones they lack (press Provision fields).
3. Rows this database cannot take (unknown fields, wrong types, stages that
   do not exist): the same check as confirming the map, on the rows as the
   admin left them for a draft map.
4. From :func:`flitstack_connectors.mapping.preflight`: required Odoo fields
   no row writes, and source values with no entry in a value map (a picklist
   value with no selection option, a status with no stage), looked up as the
   row's transform hands them on; source paths the source does not report.
5. Object maps onto apps that are not installed: their records are skipped,
   and said so.
6. Currencies the sampled records are in that Odoo cannot take yet (inactive,
   without a rate, unknown): a run does not activate a currency behind the
   accountant's back; until the admin does, those records land in the company
   currency with their amounts as exported and the code kept beside them.

Findings carry messages without record values; the values concerned (picklist
options, statuses) are kept apart for the admin's screen.
"""

from odoo import _
from odoo.exceptions import UserError

from flitstack_connectors.errors import FlitstackError
from flitstack_connectors.mapping import get_path, matches_filter, preflight

from .loader import currency_usable
from .provisioning import FieldProvisioner

#: records sampled per source object, unless the system parameter says otherwise
DEFAULT_SAMPLE_SIZE = 200
SAMPLE_SIZE_PARAM = "flitstack_migration.preflight_sample_size"


def sample_size(env, default=DEFAULT_SAMPLE_SIZE):
    try:
        return max(1, int(env["ir.config_parameter"].sudo().get_param(SAMPLE_SIZE_PARAM, default)))
    except ValueError:
        return default


def read_source(connection, object_names, size):
    """``(objects, {object: [records]})``: what the source reports and up to
    ``size`` records of each of ``object_names`` (None: every object)."""
    try:
        source = connection._source()
        try:
            objects = source.discover()
            names = [o.name for o in objects] if object_names is None else \
                [n for n in dict.fromkeys(object_names) if n in {o.name for o in objects}]
            samples = source.sample(names, size)
        finally:
            source.close()
    except FlitstackError as exc:
        raise UserError(_("Reading the source failed: %s", connection._safe_error(exc))) from None
    return objects, samples


class MapPreflight:
    """Pre-flight of one map of a connection."""

    def __init__(self, cmap):
        self.map = cmap
        self.connection = cmap.connection_id
        self.env = cmap.env

    def run(self, objects=None, samples=None):
        """Findings as create values of ``flitstack.map.finding`` (without ``map_id``)."""
        spec, problems = self.map._checked_spec()
        findings = []

        def add(level, category, message, object_map=False, target=False, values=(), undeclared=()):
            values = [str(v) for v in values]
            findings.append({
                "undeclared_json": [str(v) for v in undeclared] or False,
                "sequence": len(findings) + 1, "level": level, "category": category, "message": message,
                "object_map": object_map or False, "target": target or False,
                "values": ", ".join(values)[:500] or False, "values_json": values or False,
                "key": "|".join([category, object_map or "", target or "", message if not values else "",
                                 ",".join(sorted(values))]),
            })

        if spec is None:
            for problem in problems:
                add("error", "invalid_row", problem)
            return findings
        if objects is None:
            objects, samples = read_source(self.connection, [om.source_object for om in spec.objects if om.enabled],
                                           sample_size(self.env))
        schema = self.map._target_schema(spec)

        provisioner = FieldProvisioner(self.connection)
        uninstalled = {om.name: om.target_model for om in spec.objects if om.enabled and om.target_model not in self.env}
        needed = provisioner.needed(spec)
        for model, name, reason in provisioner.missing(spec):
            if model in self.env and (model, name, reason) not in needed:
                add("warning", "not_installed",
                    _("%(model)s.%(name)s is left out: %(reason)s; install its app first to migrate it.",
                      model=model, name=name, reason=reason), target=name)
        for model, name, _reason in needed:
            add("error", "missing_field",
                _("%(model)s.%(name)s does not exist yet: press Provision fields on the map.", model=model, name=name),
                target=name)
        for model, name, keys in provisioner.missing_options(spec):
            add("error", "missing_option",
                _("%(model)s.%(name)s lacks %(count)s selection options of the map: press Provision fields on the map.",
                  model=model, name=name, count=len(keys)), target=name, values=keys)
        for map_name, model in uninstalled.items():
            add("warning", "not_installed",
                _("Object map %(map)r writes %(model)s, which is not installed: its records will be skipped "
                  "(and listed as skipped in the audit) unless you install its app first.", map=map_name, model=model),
                object_map=map_name)
        for problem in problems:
            if any(f"object map {name!r}" in problem for name in uninstalled):
                continue
            add("error", "invalid_row", problem)
        for finding in preflight(spec, schema, samples, objects):
            if finding.map_name in uninstalled:
                continue
            if finding.values:
                category = "unmapped_value"
            elif "is required" in finding.message:
                category = "required_field"
            else:
                category = "source"
            add(finding.level, category, finding.message, finding.map_name, finding.target, finding.values,
                finding.undeclared)
        for code, (map_name, target, message) in self.currency_findings(spec, samples, uninstalled).items():
            add("warning", "source", message, map_name, target, [code])
        staff = self.staff_finding(spec)
        if staff:
            add("error", "staff", staff)
        return findings

    def currency_findings(self, spec, samples, uninstalled):
        """``{code: (object map, target, sentence)}`` for each currency code of the sampled
        records (name lookups onto res.currency) that Odoo cannot take as it stands."""
        found = {}
        company = self.env.company
        Currency = self.env["res.currency"].with_context(active_test=False)
        for om in spec.objects:
            if not om.enabled or om.name in uninstalled or om.target_model not in self.env:
                continue
            model = self.env[om.target_model]
            for lookup in om.lookups:
                field = model._fields.get(lookup.target)
                if lookup.kind != "name" or field is None or field.comodel_name != "res.currency":
                    continue
                for record in samples.get(om.source_object, ()):
                    if not matches_filter(om, record):
                        continue
                    code = str(get_path(record.data, lookup.source) or "").strip().upper()
                    if not code or code in found:
                        continue
                    currency = Currency.search([("name", "=ilike", code)], limit=1)
                    if currency and currency_usable(currency, company):
                        continue
                    what = om.source_object.replace("_", " ")
                    if not currency:
                        message = _("%(what)s in %(code)s: Odoo has no currency %(code)s; they land in the company "
                                    "currency (%(company)s) with their amounts as exported and the code kept beside "
                                    "them.", what=what, code=code, company=company.currency_id.name)
                    else:
                        message = _("%(what)s in %(code)s: activate %(code)s and set its rate (Accounting > "
                                    "Configuration > Currencies) before the run; until then they land in the company "
                                    "currency (%(company)s) with their amounts as exported and the code kept beside "
                                    "them.", what=what, code=code, company=company.currency_id.name)
                    found[code] = (om.name, lookup.target, message)
        return found

    def staff_finding(self, spec):
        """A sentence when records of the map get owners from source staff that
        may have no Odoo user while no fallback owner is chosen, else None."""
        conn = self.connection
        if conn.fallback_user_id or not conn._staff_objects(spec):
            return None
        if not conn.staff_ids:
            return _("Records of this map get their owner from the source's staff, and no fallback owner is "
                     "chosen: choose a Fallback owner on the connection (Migration section), or press Refresh "
                     "staff (Source staff tab) to match every staff member to a user.")
        unmatched = conn.staff_ids.filtered(lambda s: s.match == "none")
        if unmatched:
            return _("%(count)s source staff have no Odoo user and no fallback owner is chosen: choose a Fallback "
                     "owner on the connection (Migration section), or pick their users on the Source staff tab.",
                     count=len(unmatched))
        return None
