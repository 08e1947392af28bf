"""Proposal, steps 1 and 2: which model each source object lands on, and the maps it becomes."""
from __future__ import annotations

import re
from typing import Any, Optional

from ..records import ObjectInfo
from .apply import get_path
from .vocabulary import Match, singular
from .proposal import OBJECT_ACCEPT, _display, _fmt, _MapPlan, _Placement


class ObjectSteps:
    """Places objects on models and splits them into maps (companies, people, companions)."""

    def place(self, obj: ObjectInfo) -> _Placement:
        override = self.vocab.data.get("source_objects", {}).get(self.source_kind, {}).get(obj.name)
        if override and override.get("model") in self.schema:
            return _Placement(override["model"], 1.0, f"{self.source_kind} {obj.name}: {override.get('why', '')}",
                              defaults=dict(override.get("defaults", {})),
                              match_on=list(override.get("match_on", ())))
        texts = [t for t in (self.vocab.words(obj.name), self.vocab.words(obj.label or "")) if t]
        best: Optional[tuple[float, dict[str, Any], Match, tuple[str, ...], tuple[str, ...]]] = None
        for entry in self.vocab.object_models:
            model = entry["model"]
            if model not in self.schema:
                continue
            for text in texts:
                for phrase in self.vocab.phrase_words(entry.get("phrases", ())):
                    m = self.vocab.similarity(text, phrase)
                    if best is None or m.score > best[0]:
                        best = (m.score, entry, m, text, phrase)
        if best is None or best[0] < OBJECT_ACCEPT:
            return _Placement(None, 1.0 - (best[0] if best else 0.0),
                              "no destination model fits this object; it is not migrated")
        score, entry, m, text, phrase = best
        reason = f"object name '{_display(text)}' ~ '{_display(phrase)}' ({_fmt(score)}, {m.kind})"
        if entry.get("resolve_only"):
            return _Placement(entry["model"], score,
                              reason + "; staff are matched to existing Odoo users by email, not created",
                              resolve_users=True)
        return _Placement(entry["model"], score, reason, defaults=dict(entry.get("defaults", {})),
                          match_on=list(entry.get("match_on", ())))

    def map_name(self, obj: ObjectInfo, suffix: str = "") -> str:
        base = re.sub(r"[^a-z0-9]+", "_", f"{self.source_kind}_{singular(obj.name.lower())}").strip("_")
        return f"{base}_{suffix}" if suffix else base

    def plans(self, obj: ObjectInfo, placement: _Placement) -> list[_MapPlan]:
        model = placement.model
        assert model is not None
        base = _MapPlan(self.map_name(obj), obj, model, placement.confidence, placement.reason,
                        defaults=dict(placement.defaults), match_on=list(placement.match_on))
        plans = [base]
        split = self.vocab.partner_split
        found = self._discriminator(obj) if model == split.get("model") else None
        if found:
            path, company_value, person_value = found
            company = _MapPlan(self.map_name(obj, "company"), obj, model, placement.confidence,
                               f"{obj.name} whose {path} is {company_value!r} become company partners; "
                               + placement.reason, role="company", filter={path: company_value},
                               defaults={**placement.defaults, "is_company": True}, discriminator=path)
            person = _MapPlan(self.map_name(obj, "person"), obj, model, placement.confidence,
                              f"{obj.name} whose {path} is {person_value!r} become individual partners; "
                              + placement.reason, role="person", filter={path: person_value},
                              defaults={**placement.defaults, "is_company": False}, discriminator=path)
            plans = [company, person]
            parent = next((f for f in obj.fields if f.relation == obj.name
                           and f.type in ("many2one", "json", "char", "integer")), None)
            rule = split.get("with_parent")
            if parent is not None and rule:
                person.filter[parent.name] = None
                person.parent_ref = parent.name
                person.reason = (f"{obj.name} whose {path} is {person_value!r} and who belong to no company "
                                 f"become individual partners with their own address; " + placement.reason)
                employee = _MapPlan(
                    self.map_name(obj, "employee"), obj, model, placement.confidence,
                    f"{obj.name} whose {path} is {person_value!r} and who belong to a company become its "
                    f"contacts; {rule.get('why', '')}; " + placement.reason,
                    role="employee", filter={path: person_value, parent.name: {"not": None}},
                    defaults={**placement.defaults, "is_company": False, **rule.get("defaults", {})},
                    after=[company.name], discriminator=path, parent_ref=parent.name)
                plans.append(employee)
            else:
                person.after = [company.name]
        for companion in self.vocab.data.get("companions", ()):
            if companion.get("model") not in self.schema or model == companion.get("model"):
                continue
            phrases = self.vocab.phrase_words(companion.get("objects", ()))
            if self.vocab.words(obj.name) not in phrases and self.vocab.words(obj.label or "") not in phrases:
                continue
            one = singular(obj.name.lower())
            plans.append(_MapPlan(
                self.map_name(obj, companion.get("suffix", "extra")), obj, companion["model"],
                placement.confidence, f"{companion.get('why', '')}; " + placement.reason, role="companion",
                defaults=dict(companion.get("defaults", {})),
                identity=f"{one}_{companion.get('identity', 'extra')}", companion=companion))
        return plans

    def _discriminator(self, obj: ObjectInfo) -> Optional[tuple[str, Any, Any]]:
        split = self.vocab.partner_split
        names = self.vocab.phrase_words(split.get("discriminators", ()))
        company_words = self.vocab.phrase_words(split.get("company_values", ()))
        person_words = self.vocab.phrase_words(split.get("person_values", ()))
        for f in obj.fields:
            if self.vocab.words(f.name) not in names:
                continue
            values: list[Any] = list(f.selection)
            for rec in self.samples.get(obj.name, ()):
                v = get_path(rec.data, f.name)
                if v not in (None, "") and v not in values:
                    values.append(v)
            company = next((v for v in values if self.vocab.words(str(v)) in company_words), None)
            person = next((v for v in values if self.vocab.words(str(v)) in person_words), None)
            if company is not None and person is not None:
                return f.name, company, person
        return None
