import re

from odoo import _, models
from odoo.tools import format_datetime

#: what a reason may carry that is not the reason itself: record numbers, quoted text
_NUMBER = re.compile(r"\b\d+\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|«[^»]*»")
#: the note of a record whose field landed empty as the admin chose (ValueMap.left_empty_note)
_LEFT_EMPTY = re.compile(r"(?:^|; )([\w.]+): source value «([^»]*)» left empty: ([^;]+)")


def reason_of(message):
    """The reason an audit line gives, with record numbers and quoted text left
    out, so that lines failing for one reason group together and no value of a
    record reaches the report."""
    text = _QUOTED.sub("…", message or "")
    return _NUMBER.sub("#", text).strip() or _("no reason given")


class FlitstackRun(models.Model):
    """The reconciliation report of a run (report/flitstack_run_report.xml):
    per object map what was read, created, updated, skipped and failed, the
    failures grouped by reason, the source values landed empty as the admin
    chose (a picklist option deleted at the source), what was not migrated and why, and the map
    version with who confirmed it and when.  It names objects, fields, counts
    and reasons, never a record's values."""

    _inherit = "flitstack.run"

    def action_print_reconciliation(self):
        return self.env.ref("flitstack_migration.action_report_flitstack_run").report_action(self, config=False)

    def _report_data(self):
        self.ensure_one()
        objects = [{
            "map": o.map_name, "source": o.source_object, "target": o.target_model, "read": o.read_count,
            "created": o.created_count, "updated": o.updated_count, "skipped": o.skipped_count,
            "failed": o.failed_count, "closes": o.sums_close,
        } for o in self.object_ids]
        lines = self.env["flitstack.audit.line"].search(
            [("run_id", "=", self.id), ("operation", "in", ("fail", "skip")), ("continuation", "=", False)])
        groups = {}
        for line in lines:
            key = (line.operation, line.map_name or "", reason_of(line.message))
            groups[key] = groups.get(key, 0) + 1
        by_reason = lambda op: [{"map": m, "reason": r, "count": n}  # noqa: E731
                                for (o, m, r), n in sorted(groups.items(), key=lambda kv: (kv[0][1], -kv[1]))
                                if o == op]
        left_empty = {}
        for line in self.env["flitstack.audit.line"].search(
                [("run_id", "=", self.id), ("message", "like", "» left empty: "), ("continuation", "=", False)]):
            for field, value, why in _LEFT_EMPTY.findall(line.message):
                key = (line.map_name or "", field, value, why.strip())
                left_empty[key] = left_empty.get(key, 0) + 1
        spec = self.spec_json or {}
        disabled = [om.get("name") for om in spec.get("objects", []) if not om.get("enabled", True)]
        not_read = [o["map"] for o in objects if self.state != "done" and not o["read"]]
        cmap = self.map_id
        if not cmap:
            version = _("none: the run never started")
        elif cmap.confirmed_by:
            version = _("version %(version)s, confirmed by %(user)s on %(date)s", version=cmap.version,
                        user=cmap.confirmed_by.name, date=format_datetime(self.env, cmap.confirmed_at))
        else:
            version = _("version %s, not confirmed", cmap.version)
        return {
            "map_version": version,
            "objects": objects,
            "totals": {k: sum(o[k] for o in objects) for k in ("read", "created", "updated", "skipped", "failed")},
            "failures": by_reason("fail"),
            "skipped": by_reason("skip"),
            # picklist options and statuses the admin chose to land empty: named, they are not personal data
            "left_empty": [{"map": m, "field": f, "value": v, "reason": r, "count": n}
                           for (m, f, v, r), n in sorted(left_empty.items())],
            "disabled": disabled,
            "not_read": not_read,
            "closes": all(o["closes"] for o in objects) and bool(objects),
        }
