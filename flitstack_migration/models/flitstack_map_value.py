"""Value maps edited as rows: one row per source value (a matter status, a
picklist option) and what it becomes (a stage, an option of a selection field).

The rows are generated from the specification's value maps and written back
into them when the map is rebuilt (confirm, pre-flight), as the map's rows are.
"""
import copy
import json

from odoo import _, api, fields, models


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed(text, like):
    """``text`` read as the type of ``like`` (the value the row held): a yes/no, a number, or text."""
    text = (text or "").strip()
    if isinstance(like, bool):
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError("true or false")
    try:
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
    except ValueError:
        raise ValueError("a number") from None
    return text


class FlitstackMapValue(models.Model):
    """One source value of a value map and the value it lands as."""

    _name = "flitstack.map.value"
    _inherit = ["flitstack.map.frozen"]
    _description = "Migration map: value map row"
    _order = "map_id, value_map, sequence, id"

    map_id = fields.Many2one("flitstack.map", required=True, ondelete="cascade", index=True)
    map_state = fields.Selection(related="map_id.state")
    sequence = fields.Integer()
    value_map = fields.Char(string="Value map (technical)", required=True, readonly=True)
    value_map_label = fields.Char(string="Value map", readonly=True,
                                  help="The rows of the map that use this value map.")
    source_value = fields.Char(string="Source value", required=True)
    is_default = fields.Boolean(string="Any other value", readonly=True,
                                help="What a source value that no other row names becomes.")
    target_value = fields.Char(string="Lands as", help="An option's key, a record's XML id (crm.stage_lead2), "
                                                       "true/false, or a text.")
    #: the value as JSON text (a Json field would read 0 and false back as empty)
    target_json = fields.Char(readonly=True)
    target_label = fields.Char(compute="_compute_target_label", string="Meaning")

    @api.depends("target_value")
    def _compute_target_label(self):
        for row in self:
            value = (row.target_value or "").strip()
            record = row.env.ref(value, raise_if_not_found=False) if value.count(".") == 1 and " " not in value \
                else None
            if record is not None:
                row.target_label = _("%(name)s (%(model)s)", name=record.display_name,
                                     model=row.env["ir.model"]._get(record._name).name)
            else:
                row.target_label = row.map_id._option_label(row.value_map, value) or False

    def _value(self):
        """The value this row lands as, of the type it had (raises ValueError)."""
        self.ensure_one()
        like = json.loads(self.target_json) if self.target_json else None
        if (self.target_value or "") == _text(like):
            return like
        if like is not None:
            return _typed(self.target_value, like)
        return (self.target_value or "").strip()

    def action_add_value(self):
        """A new row of the same value map, under this one."""
        self.ensure_one()
        self._check_editable()
        added = self.copy({"source_value": _("New value"), "target_value": self.target_value, "is_default": False})
        siblings = self.map_id.value_ids.filtered(lambda r: r.value_map == self.value_map and r != added).sorted(
            lambda r: (r.is_default, r.sequence, r.id))
        order = list(siblings)
        order.insert(order.index(self) + (0 if self.is_default else 1), added)
        for seq, row in enumerate(order):
            row.sequence = seq
        return True


class FlitstackMap(models.Model):
    _inherit = "flitstack.map"

    value_ids = fields.One2many("flitstack.map.value", "map_id", string="Value maps", copy=True)
    value_rows_generated = fields.Boolean(readonly=True, copy=True,
                                          help="The value maps are edited as rows, written back on confirm.")

    def _option_label(self, value_map, key):
        """The label of option ``key`` of the custom selection field a row writes through ``value_map``."""
        self.ensure_one()
        data = self.spec_json or {}
        for om in data.get("objects", []):
            for row in om.get("fields", []):
                if row.get("value_map") != value_map:
                    continue
                for cf in data.get("custom_fields", []):
                    if cf["model"] == om["target_model"] and cf["name"] == row["target"]:
                        return dict((k, v) for k, v in cf.get("selection") or []).get(key)
        return None

    def _value_map_labels(self):
        """``{value map: "Matter: status → Stage"}`` from the rows that use each."""
        self.ensure_one()
        labels = {}
        for line in self.line_ids.filtered(lambda l: l.value_map):
            where = f"{line.object_id.label or line.object_map}: {line.source_path}"
            labels.setdefault(line.value_map, []).append(where)
        return {name: "; ".join(dict.fromkeys(where)) for name, where in labels.items()}

    def _generate_value_rows(self, names=None):
        """Rows of the value maps ``names`` (all when None), from the specification."""
        self.ensure_one()
        value_maps = (self.spec_json or {}).get("value_maps", {})
        names = sorted(value_maps) if names is None else names
        Value = self.env["flitstack.map.value"].with_context(flitstack_map_sync=True)
        self.value_ids.filtered(lambda r: r.value_map in names).with_context(flitstack_map_sync=True).unlink()
        labels = self._value_map_labels()
        vals = []
        for name in names:
            for seq, (source, target) in enumerate((value_maps.get(name) or {}).get("values", {}).items()):
                vals.append({"map_id": self.id, "value_map": name, "sequence": seq, "source_value": source,
                             "target_value": _text(target), "target_json": json.dumps(target),
                             "value_map_label": labels.get(name) or name})
            default = (value_maps.get(name) or {}).get("default")
            if default is not None:
                vals.append({"map_id": self.id, "value_map": name, "sequence": 10000, "is_default": True,
                             "source_value": _("(any other value)"), "target_value": _text(default),
                             "target_json": json.dumps(default), "value_map_label": labels.get(name) or name})
        Value.create(vals)
        self.with_context(flitstack_map_sync=True).value_rows_generated = True

    def _value_maps_from_rows(self, data, problems=None):
        """``data["value_maps"]`` with the values the rows give (``data`` is changed and returned)."""
        self.ensure_one()
        if not self.value_rows_generated:
            return data
        by_map = {}
        for row in self.value_ids.sorted(lambda r: (r.value_map, r.sequence, r.id)):
            by_map.setdefault(row.value_map, []).append(row)
        for name, vm in data.get("value_maps", {}).items():
            values, default = {}, None
            for row in by_map.get(name, []):
                if row.is_default:
                    try:
                        default = row._value()
                    except ValueError as exc:
                        problems is not None and problems.append(_(
                            "Value map %(map)s (%(label)s), any other value: give %(why)s.",
                            map=name, label=row.value_map_label or name, why=exc))
                    continue
                source = (row.source_value or "").strip()
                where = _("Value map %(map)s (%(label)s), value %(value)r",
                          map=name, label=row.value_map_label or name, value=source)
                if not source:
                    problems is not None and problems.append(_("%s: give the source value or delete the row.", where))
                    continue
                if source in values:
                    problems is not None and problems.append(_("%s is given twice: delete one of the rows.", where))
                    continue
                try:
                    values[source] = row._value()
                except ValueError as exc:
                    problems is not None and problems.append(_("%(where)s: give %(why)s.", where=where, why=exc))
            vm["values"] = values
            vm["default"] = default
        return data

    def _rebuild_spec(self):
        if not self.value_rows_generated:
            return super()._rebuild_spec()
        data = copy.deepcopy(self.spec_json)
        problems = []
        self._value_maps_from_rows(data, problems)
        if data != self.spec_json:
            self.with_context(flitstack_map_sync=True).spec_json = data
        spec, more = super()._rebuild_spec()
        return (None if problems else spec), problems + more

    def _generate_lines(self):
        res = super()._generate_lines()
        self._generate_value_rows()
        return res

    def _add_options(self, map_name, target, values):
        # the rows' edits first, so that adding options keeps them
        data = self._value_maps_from_rows(copy.deepcopy(self.spec_json))
        if data != self.spec_json:
            self.with_context(flitstack_map_sync=True).write({"spec_json": data})
        added = super()._add_options(map_name, target, values)
        if added and self.value_rows_generated:
            om = next(o for o in self.spec_json["objects"] if o["name"] == map_name)
            row = next(r for r in om["fields"] if r["target"] == target and r.get("value_map"))
            self._generate_value_rows([row["value_map"]])
        return added
