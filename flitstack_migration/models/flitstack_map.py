import copy

from pydantic import ValidationError

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.errors import MappingError
from flitstack_connectors.mapping import MapSpec, TargetSchema, ValueMap, load_pack, spec_problems

from ..services.provisioning import FieldProvisioner, sanitize_field_name

#: most problems listed in one error message
MAX_LISTED = 15
#: how many records the schema lists per model of known records (stages, teams ...)
MAX_KNOWN_RECORDS = 500


class FlitstackMap(models.Model):
    """A map of one connection.  A confirmed map is frozen: editing it means a
    new version, and every run keeps the version it used.

    The specification (``spec_json``, a :class:`MapSpec`) is what runs use;
    its rows are also shown as lines the admin edits (retarget, ignore,
    change the transform).  Confirming rebuilds the specification from the
    lines and checks it against this database's fields.
    """

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
    line_ids = fields.One2many("flitstack.map.line", "map_id", string="Rows", copy=True)
    line_count = fields.Integer(compute="_compute_line_stats")
    low_confidence_count = fields.Integer(compute="_compute_line_stats", string="Rows to review")
    origin = fields.Selection([("pack", "Default map"), ("proposal", "Proposed from the source")],
                              default="pack", readonly=True)
    #: ``{source object: {path: "a | b | c"}}``: a few sampled values per source path, shown beside the rows
    samples_json = fields.Json(string="Sampled values", readonly=True, copy=True)
    finding_ids = fields.One2many("flitstack.map.finding", "map_id", string="Pre-flight findings", copy=False)
    preflight_at = fields.Datetime(string="Last pre-flight", readonly=True, copy=False)
    preflight_error_count = fields.Integer(compute="_compute_preflight_counts")
    preflight_warning_count = fields.Integer(compute="_compute_preflight_counts")

    @api.depends("line_ids.state", "line_ids.confidence")
    def _compute_line_stats(self):
        for m in self:
            m.line_count = len(m.line_ids)
            m.low_confidence_count = len(m.line_ids.filtered(lambda l: l.state != "ignored" and l.low_confidence))

    @api.depends("finding_ids.level", "finding_ids.accepted")
    def _compute_preflight_counts(self):
        for m in self:
            m.preflight_error_count = len(m.finding_ids.filtered(lambda f: f.level == "error" and not f.accepted))
            m.preflight_warning_count = len(m.finding_ids.filtered(lambda f: f.level == "warning"))

    def _spec(self):
        self.ensure_one()
        return MapSpec.from_dict(self.spec_json)

    # -- creation ------------------------------------------------------------------
    @api.model
    def create_from_pack(self, connection, pack_name):
        spec = load_pack(pack_name)
        return self.create({
            "name": _("%(conn)s map", conn=connection.name),
            "connection_id": connection.id,
            "spec_json": spec.model_dump(mode="json"),
        })

    @api.model_create_multi
    def create(self, vals_list):
        maps = super().create(vals_list)
        for m, vals in zip(maps, vals_list):
            if "line_ids" not in vals and m.spec_json:
                m._generate_lines()
        return maps

    def write(self, vals):
        if any(m.state == "confirmed" for m in self) and (
                "spec_json" in vals or ("line_ids" in vals and not self.env.context.get("flitstack_map_sync"))):
            raise UserError(_("A confirmed map cannot change: make a new version and confirm that one."))
        res = super().write(vals)
        if "spec_json" in vals and not self.env.context.get("flitstack_map_sync"):
            # the specification was edited as JSON: its rows become the lines
            for m in self:
                m._generate_lines()
        return res

    def _generate_lines(self):
        """Replace the lines with one per row of the specification."""
        self.ensure_one()
        spec = self._spec()
        Line = self.env["flitstack.map.line"].with_context(flitstack_map_sync=True)
        self.line_ids.with_context(flitstack_map_sync=True).unlink()
        Line.create(Line._vals_from_spec(self, spec))

    # -- the live destination -------------------------------------------------------
    @api.model
    def _target_schema(self, spec=None):
        """This database's fields as a :class:`TargetSchema`: the models of the
        CRM snapshot and those ``spec`` writes.  A model whose app is not
        installed keeps its Odoo 18 definition from the snapshot, so that a map
        onto it still validates (its records are skipped at load)."""
        snapshot = TargetSchema.load_snapshot()
        wanted = set(snapshot.models)
        if spec is not None:
            wanted |= {om.target_model for om in spec.objects}
            wanted |= {cf.model for cf in spec.custom_fields} | {cf.relation for cf in spec.custom_fields if cf.relation}
        installed = sorted(m for m in wanted if m in self.env)
        fields_by_model, defaults, labels = {}, {}, {}
        for model in installed:
            Model = self.env[model].sudo()
            described = Model.fields_get()
            # Odoo fills these itself: links to _inherits parents (created with the
            # record) and computed fields (sale.order.line.customer_lead is required
            # but computed from the product)
            filled = set(Model._inherits.values()) | {n for n, f in Model._fields.items() if f.compute}
            for name in filled & set(described):
                described[name] = dict(described[name], computed=True)
            fields_by_model[model] = described
            required = [n for n, a in described.items() if a.get("required")]
            defaults[model] = [n for n, v in Model.default_get(required).items() if v not in (None, False)] \
                if required else []
            labels[model] = self.env["ir.model"]._get(model).name or model
        records = {}
        for model in sorted(set(snapshot.records) & set(self.env.registry.models)):
            recs = self.env[model].sudo().with_context(active_test=False).search([], limit=MAX_KNOWN_RECORDS)
            xmlids = recs._get_external_ids()
            records[model] = [{"name": r.display_name, "xmlid": x} for r in recs for x in (xmlids.get(r.id) or [None])]
        schema = TargetSchema.from_fields_get(fields_by_model, model_labels=labels, defaults=defaults,
                                              records=records)
        for model in wanted - set(installed):
            if model in snapshot.models:
                schema.models[model] = dict(snapshot.models[model])
                schema.model_labels[model] = snapshot.model_label(model)
        return schema

    # -- from lines to specification ----------------------------------------------------
    def _spec_from_lines(self):
        """The specification rebuilt from the lines; raises UserError naming the rows
        that do not fit this database."""
        spec, problems = self._rebuild_spec()
        if problems:
            self._raise_problems(problems)
        return spec

    def _checked_spec(self):
        """``(spec or None, problems)``: for a draft map, the specification its lines
        give; for a confirmed one, the frozen specification; with the reasons,
        each naming its row, why this database cannot take it."""
        self.ensure_one()
        if self.state == "draft":
            return self._rebuild_spec()
        spec = self._spec()
        return spec, self._problems(spec)

    def _rebuild_spec(self):
        """``(spec or None, problems)`` rebuilt from the lines; ``spec`` is None
        when the rows do not even form a specification."""
        self.ensure_one()
        data = copy.deepcopy(self.spec_json)
        problems = []
        lines = self.line_ids.sorted(lambda l: (l.sequence, l.id))
        by_map = {}
        for line in lines:
            by_map.setdefault(line.object_map, self.env["flitstack.map.line"])
            by_map[line.object_map] |= line
        known_maps = {om["name"] for om in data.get("objects", [])}
        for name in by_map:
            if name not in known_maps:
                problems.append(_("Row %(row)s: object map %(map)r is not in the specification; ignore the row.",
                                  row=by_map[name][0].sequence, map=name))
        manifest = {(cf["model"], cf["name"]): cf for cf in data.get("custom_fields", [])}
        for om in data.get("objects", []):
            mlines = by_map.get(om["name"])
            if mlines is None:
                continue
            fields_rows, lookup_rows = [], []
            its_default = _("its default")
            targets = dict.fromkeys(om.get("defaults", {}), its_default)
            for line in mlines:
                if line.state == "ignored":
                    continue
                label = line._label()
                if not line.target_field:
                    problems.append(_("%(row)s: pick a target field or ignore the row.", row=label))
                    continue
                target = line.target_field.strip()
                if target in targets:
                    problems.append(_("%(row)s writes %(model)s.%(field)s, which %(other)s already writes: "
                                      "ignore one of them or pick another target.",
                                      row=label, model=om["target_model"], field=target, other=targets[target]))
                    continue
                targets[target] = _("row %s", line.sequence)
                row = line._row_dict(target)
                (lookup_rows if line.row_type == "lookup" else fields_rows).append(row)
                # the row's own definition: the admin may have changed its type
                if line.custom_field_json and line.custom_field_json.get("name") == target:
                    manifest[(om["target_model"], target)] = dict(line.custom_field_json)
            om["fields"] = fields_rows
            om["lookups"] = lookup_rows
        # the manifest keeps the custom fields some row still writes, under sanitised names
        written = {(om["target_model"], t) for om in data.get("objects", []) if om.get("enabled", True)
                   for t in [r["target"] for r in om["fields"]] + [r["target"] for r in om["lookups"]]
                   + list(om.get("defaults", {}))}
        renames = {}
        custom = []
        for (model, name), cf in manifest.items():
            if (model, name) not in written:
                continue
            clean = sanitize_field_name(name)
            if clean != name:
                renames[(model, name)] = clean
                cf = dict(cf, name=clean)
            custom.append(cf)
        for om in data.get("objects", []):
            for row in om["fields"] + om["lookups"]:
                row["target"] = renames.get((om["target_model"], row["target"]), row["target"])
        data["custom_fields"] = custom
        try:
            spec = MapSpec.model_validate(data)
        except ValidationError as exc:
            return None, problems + [self._name_row(str(e.get("msg", "")).removeprefix("Value error, "))
                                     for e in exc.errors()]
        # rows left out above (no target, a target taken twice) make the specification unusable as it stands
        return (None if problems else spec), problems + self._problems(spec)

    def _problems(self, spec):
        """Why this database cannot take ``spec``, each naming its row: the
        connectors' checks against its fields, and XML ids that value maps give
        for records of models outside the schema's known records (an ``ir.model``
        of an activity) that do not exist here."""
        schema = self._target_schema(spec)
        problems = spec_problems(spec, schema)
        for om in spec.objects:
            if not om.enabled or om.target_model not in self.env:
                continue
            for row in om.lookups:
                field = self.env[om.target_model]._fields.get(row.target)
                vm = spec.value_maps.get(row.value_map) if row.value_map else None
                if row.kind != "xmlid" or vm is None or field is None or not field.comodel_name \
                        or field.comodel_name in schema.records:
                    continue
                produced = [v for v in [*vm.values.values(), vm.default] if isinstance(v, str) and v.count(".") == 1]
                for xmlid in sorted(set(produced)):
                    record = self.env.ref(xmlid, raise_if_not_found=False)
                    if record is None or record._name != field.comodel_name:
                        problems.append(
                            f"object map {om.name!r}, lookup row {row.source!r} -> {om.target_model}.{row.target}: "
                            f"value map {row.value_map!r} gives {xmlid!r}, which is not a {field.comodel_name} "
                            f"record of this database; create it first or map to an existing one")
        return [self._name_row(p) for p in problems]

    def _raise_problems(self, problems):
        """A UserError listing ``problems``, each prefixed with the row it names."""
        self.ensure_one()
        named = list(problems)
        head = _("The map %(map)s cannot be confirmed:", map=self.display_name) if len(named) == 1 else \
            _("The map %(map)s cannot be confirmed: %(count)s rows need attention.",
              map=self.display_name, count=len(named))
        listed = "\n".join(f"- {p}" for p in named[:MAX_LISTED])
        more = _("\n… and %s more.", len(named) - MAX_LISTED) if len(named) > MAX_LISTED else ""
        raise UserError(f"{head}\n{listed}{more}")

    def _name_row(self, problem):
        """``problem`` prefixed with "Row n" when it names the row of a line."""
        if problem.startswith(_("Row ")):
            return problem
        for line in self.line_ids.filtered(lambda l: l.state != "ignored" and l.target_field):
            if f"object map {line.object_map!r}" in problem and \
                    f"-> {line.target_model}.{line.target_field.strip()}" in problem:
                return _("Row %(row)s: %(problem)s", row=line.sequence, problem=problem)
        return problem

    # -- actions --------------------------------------------------------------------
    def action_confirm(self):
        """Rebuild the specification from the lines, check it against this
        database, and freeze it."""
        for m in self:
            if m.state == "confirmed":
                continue
            try:
                spec = m._spec_from_lines()
            except MappingError as exc:
                raise UserError(str(exc)) from None
            m.line_ids.filtered(lambda l: l.state == "proposed").with_context(
                flitstack_map_sync=True).write({"state": "confirmed"})
            m.with_context(flitstack_map_sync=True).write({
                "spec_json": spec.model_dump(mode="json"), "state": "confirmed",
                "confirmed_by": self.env.uid, "confirmed_at": fields.Datetime.now()})
            mapped = len(m.line_ids.filtered(lambda l: l.state != "ignored"))
            m.message_post(body=_("Map version %(version)s confirmed: %(rows)s rows (%(mapped)s mapped, %(ignored)s "
                                  "left out), %(custom)s custom fields.", version=m.version, rows=len(m.line_ids),
                                  mapped=mapped, ignored=len(m.line_ids) - mapped, custom=len(spec.custom_fields)))
        return True

    def action_new_version(self):
        self.ensure_one()
        new = self.copy({"version": self._next_version(), "state": "draft", "spec_json": self.spec_json})
        new.line_ids.with_context(flitstack_map_sync=True).filtered(
            lambda l: l.state == "confirmed").write({"state": "proposed"})
        self.connection_id.map_id = new
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": new.id, "view_mode": "form"}

    def _next_version(self):
        self.ensure_one()
        return max(self.connection_id.with_context(active_test=False).map_ids.mapped("version") or [0]) + 1

    def action_provision_fields(self):
        for m in self:
            # a draft provisions what its rows say now (a row made a new field, a type changed)
            spec = (m._checked_spec()[0] if m.state == "draft" else None) or m._spec()
            created = m.connection_id._provisioner().provision(spec)
            if created:
                m.message_post(body=_("Custom fields created: %s", ", ".join(
                    f"{f.model}.{f.name}" for f in created)))
        return True

    def action_preflight(self):
        """Check the map against this database and a sample of the source; list the findings."""
        for m in self:
            m.connection_id._preflight(m, store=True)
        return True

    def _add_options(self, map_name, target, values):
        """Add source ``values`` as options of the custom selection field a row
        of object map ``map_name`` writes through its value map, in this draft
        version.  Returns the keys added."""
        self.ensure_one()
        if self.state != "draft":
            raise UserError(_("A confirmed map cannot change: make a new version and confirm that one."))
        data = copy.deepcopy(self.spec_json)
        om = next((o for o in data["objects"] if o["name"] == map_name), None)
        row = om and next((r for r in om["fields"] if r["target"] == target and r.get("value_map")), None)
        cf = om and next((c for c in data.get("custom_fields", [])
                          if c["model"] == om["target_model"] and c["name"] == target and c["type"] == "selection"), None)
        if row is None or cf is None:
            raise UserError(_(
                "Only values of a custom selection field can be added as options; map these values in the "
                "value map of the row writing %(target)s (Specification tab) instead.", target=target))
        vm = data["value_maps"][row["value_map"]]
        taken = {key for key, _label in cf["selection"]}
        added = []
        for value in values:
            if ValueMap.model_validate(vm).lookup(value)[0]:
                continue
            key = FieldProvisioner.option_key(value, taken)
            taken.add(key)
            cf["selection"].append([key, str(value)])
            vm["values"][str(value)] = key
            added.append(key)
        if added:
            self.with_context(flitstack_map_sync=True).write({"spec_json": data})
            for line in self.line_ids.filtered(lambda l: l.custom_field_json and l.target_model == cf["model"]
                                               and l.custom_field_json.get("name") == target):
                line.with_context(flitstack_map_sync=True).custom_field_json = dict(cf)
        return added

    def _value_map_of(self, data, map_name, target):
        """``(object map, value map dict, value map name)`` of the row of ``map_name``
        writing ``target`` through a value map, in specification ``data``."""
        om = next((o for o in data.get("objects", []) if o["name"] == map_name), None)
        row = om and next((r for r in [*om.get("fields", []), *om.get("lookups", [])]
                           if r["target"] == target and r.get("value_map") in data.get("value_maps", {})), None)
        if row is None:
            raise UserError(_("No row of object map %(map)r writes %(target)s through a value map: settle these "
                              "values on the map's rows instead.", map=map_name, target=target))
        return om, data["value_maps"][row["value_map"]], row["value_map"]

    def _value_map_choices(self, map_name, target):
        """The values the row of ``map_name`` writing ``target`` can land: those its
        value map gives, and the options of a selection field."""
        self.ensure_one()
        data = self.spec_json or {}
        try:
            om, vm, _name = self._value_map_of(data, map_name, target)
        except UserError:
            return []
        choices = []
        cf = next((c for c in data.get("custom_fields", [])
                   if c["model"] == om["target_model"] and c["name"] == target and c["type"] == "selection"), None)
        if cf is not None:
            choices += [key for key, _label in cf["selection"]]
        elif om["target_model"] in self.env and target in self.env[om["target_model"]]._fields:
            field = self.env[om["target_model"]]._fields[target]
            if field.type == "selection":
                choices += [key for key, _label in field._description_selection(self.env)]
        # a selection's options in their order, then what the value map gives besides (stages ...)
        choices += [str(v) for v in vm.get("values", {}).values() if v not in (None, "", False)]
        return list(dict.fromkeys(choices))

    def _settled_write(self, data):
        if self.state != "draft":
            raise UserError(_("A confirmed map cannot change: make a new version and confirm that one."))
        self.with_context(flitstack_map_sync=True).write({"spec_json": data})

    def _leave_values_empty(self, map_name, target, reasons):
        """Let source values (``{value: reason}``) of the row of ``map_name`` writing
        ``target`` land with the field empty instead of failing their records, in
        this draft version.  Returns the values settled."""
        self.ensure_one()
        data = copy.deepcopy(self.spec_json)
        _om, vm, _name = self._value_map_of(data, map_name, target)
        model = ValueMap.model_validate(vm)
        settled = {str(v): reason for v, reason in reasons.items() if not model.lookup(v)[0]}
        if settled:
            vm["left_empty"] = dict(vm.get("left_empty") or {}, **settled)
            self._settled_write(data)
        return list(settled)

    def _map_values(self, map_name, target, values, to):
        """Map source ``values`` of the row of ``map_name`` writing ``target`` to the
        existing value ``to`` (a key, or an option's label), in this draft version."""
        self.ensure_one()
        choices = self._value_map_choices(map_name, target)
        data = copy.deepcopy(self.spec_json)
        om, vm, _name = self._value_map_of(data, map_name, target)
        key = next((c for c in choices if c == to), None) or next((c for c in choices if c.casefold() == to.casefold()), None)
        if key is None:
            cf = next((c for c in data.get("custom_fields", [])
                       if c["model"] == om["target_model"] and c["name"] == target and c["type"] == "selection"), None)
            key = next((k for k, label in (cf or {}).get("selection", []) if str(label).casefold() == to.casefold()), None)
        if key is None:
            raise UserError(_("%(to)r is not a value %(target)s can take here: pick one of %(choices)s.",
                              to=to, target=target, choices=", ".join(choices) or _("none")))
        model = ValueMap.model_validate(vm)
        settled = [str(v) for v in values if not model.lookup(v)[0]]
        for value in settled:
            vm["values"][value] = key
            (vm.get("left_empty") or {}).pop(value, None)
        if settled:
            self._settled_write(data)
        return settled

    def action_view_lines(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Rows of %s", self.display_name),
            "res_model": "flitstack.map.line", "view_mode": "list",
            "domain": [("map_id", "=", self.id)],
            "context": dict({"default_map_id": self.id},
                            **({"search_default_to_review": 1} if self.env.context.get("search_default_to_review") else {})),
        }

    @api.depends("name", "version")
    def _compute_display_name(self):
        for m in self:
            m.display_name = f"{m.name or ''} v{m.version}"
