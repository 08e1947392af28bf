"""Proposal: what sampled values say, and the value maps they need.

Selection and record value maps (statuses to stages, Mr/Dr to titles), lost values,
owners given as emails or names, value kinds as evidence next to names, transforms."""
from __future__ import annotations

from typing import Any, Optional

from .spec import FieldRow, LookupRow, ValueMap
from .target_schema import FieldSpec
from .proposal import (MIN_SAMPLES_FOR_EMPTY, VALUE_ACCEPT, FieldProposal, _MapPlan, _MapState, _Placement,
                       _SourceField)


class ValueSteps:
    """Reads sampled values: evidence for a target, value maps, transforms."""

    def selection_value_map(self, values: list[str], spec: FieldSpec) -> tuple[dict[str, str], list[str]]:
        mapped: dict[str, str] = {}
        missing: list[str] = []
        for v in values:
            vw = self.vocab.words(v)
            best, best_key = 0.0, None
            for key, label in spec.selection:
                for text in (self.vocab.words(key), self.vocab.words(label)):
                    s = self.vocab.similarity(vw, text).score
                    if s > best:
                        best, best_key = s, key
            if best_key is not None and best >= VALUE_ACCEPT:
                mapped[v] = best_key
            else:
                missing.append(v)
        return mapped, missing

    def record_value_map(self, values: list[str], model: str) -> tuple[dict[str, str], list[str], str]:
        """Source values -> known destination records (XML id when all have one, else name)."""
        records = self.schema.known_records(model)
        phrases = self.vocab.record_values.get(model, {})
        use_xmlid = bool(records) and all(r.xmlid for r in records)
        mapped: dict[str, str] = {}
        missing: list[str] = []
        for v in values:
            vw = self.vocab.words(v)
            best, best_rec = 0.0, None
            for rec in records:
                texts = [self.vocab.words(rec.name)] + self.vocab.phrase_words(phrases.get(rec.xmlid or "", ()))
                for text in texts:
                    s = self.vocab.similarity(vw, text).score
                    if s > best:
                        best, best_rec = s, rec
            if best_rec is not None and best >= VALUE_ACCEPT:
                mapped[v] = (best_rec.xmlid if use_xmlid else best_rec.name)  # type: ignore[assignment]
            else:
                missing.append(v)
        return mapped, missing, ("xmlid" if use_xmlid else "name")

    def lost(self, value: str) -> bool:
        return self.vocab.words(value) in self.vocab.phrase_words(self.vocab.data.get("lost_values", ()))

    def user_compat(self, src: _SourceField, compat: float, notes: list[str]) -> float:
        """How well a column fits a field pointing at users: owners given as
        emails (or as people's names) are matched to Odoo users."""
        # a reference to a staff object, where there is one, stays the better source
        sampled = src.profile.kind
        if sampled == "email" or src.kind == "email":
            notes.append("values are emails: owners are matched to Odoo users by email")
            return 0.9
        if self.names_records(src) and src.profile.non_empty:
            notes.append("values are names: owners are matched to Odoo users by name")
            return 0.85
        return min(compat, 0.6)

    @staticmethod
    def names_records(src: _SourceField) -> bool:
        """Values that can name a record: short texts, not numbers, emails or dates."""
        return src.kind in ("char", "selection") and src.profile.kind in ("char", None)

    def known_record_values(self, src: _SourceField, spec: FieldSpec) -> list[str]:
        """The column's distinct values when most of them name existing records
        of the model ``spec`` points at (Mr/Ms/Dr -> partner titles), else []."""
        if spec.type != "many2one" or not self.schema.known_records(spec.relation or ""):
            return []
        values = src.values or ([] if src.profile.too_many_distinct else list(src.profile.distinct))
        if len(values) < 2 or not self.names_records(src):
            return []
        mapped, _missing, _kind = self.record_value_map(values, spec.relation or "")
        return values if len(mapped) >= 0.8 * len(values) else []

    def _sample_evidence(self, src: _SourceField, spec: FieldSpec, concepts: frozenset[str], score: float,
                         notes: list[str]) -> float:
        profile = src.profile
        if profile.empty and profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
            notes.append(f"empty in all {profile.sampled} sampled records")
        if not profile.non_empty:
            return score
        sampled = profile.kind
        if "@email" in concepts and spec.type == "char":
            if sampled == "email":
                notes.append(f"sampled values look like emails ({profile.kinds.get('email', 0)}/{profile.non_empty})")
                return score + 0.05
            notes.append("sampled values are not emails")
            return score * 0.6
        if concepts & {"@phone", "@mobile"} and spec.type == "char":
            if sampled in ("phone", "digits") or src.kind == "phone":
                notes.append(f"sampled values look like phone numbers "
                             f"({profile.kinds.get('phone', 0)}/{profile.non_empty})")
                return score + 0.05
            if sampled in ("email", "date", "datetime", "url", "boolean"):
                notes.append("sampled values are not phone numbers")
                return score * 0.5
            return score
        if spec.type in ("date", "datetime"):
            if sampled in ("date", "datetime"):
                notes.append("sampled values look like dates")
                return score + 0.05
            notes.append("sampled values are not dates")
            return score * 0.6
        if spec.type in ("float", "monetary", "integer"):
            if sampled in ("float", "integer", "digits"):
                notes.append("sampled values are numbers")
                return score + 0.03
            notes.append("sampled values are not numbers")
            return score * 0.6
        if sampled == "email" and spec.relation != "res.users":
            notes.append("sampled values look like emails")
            return score * 0.6
        return score

    def transform_for(self, src: _SourceField, spec: FieldSpec, concepts: frozenset[str]
                      ) -> tuple[Optional[str], dict[str, Any]]:
        t = spec.type
        if t == "char" and "@email" in concepts:
            return "email", {}
        if t == "char" and concepts & {"@phone", "@mobile"}:
            return "phone", {}
        simple = {"date": "date", "datetime": "datetime", "integer": "integer", "boolean": "boolean"}
        if t in simple:
            return simple[t], {}
        if t in ("float", "monetary"):
            return ("money", {}) if src.kind == "monetary" else ("float", {})
        if t in ("char", "text"):
            if src.kind == "html":
                return "html_to_text", {}
            if src.kind in ("char", "text", "email", "phone", "selection", "digits"):
                return "strip", {}
            return "string", {}
        return None, {}

    def stage_extras(self, plan: _MapPlan, src: _SourceField, chosen: FieldProposal,
                     fields: list[tuple[str, FieldSpec]], st: _MapState,
                     placements: dict[str, _Placement]) -> None:
        row = chosen.row
        vm = chosen.value_map
        if not isinstance(row, LookupRow) or vm is None or row.kind not in ("xmlid", "name") or not src.values:
            return
        relation = dict(fields)[row.target].relation or ""
        records = self.schema.known_records(relation)
        lost = [v for v in src.values if self.lost(v)]
        values = dict(vm.values)
        if lost and records:
            first = records[0].xmlid if row.kind == "xmlid" else records[0].name
            for v in lost:
                values.setdefault(v, first)
            active = dict(fields).get("active")
            if active is not None and active.type == "boolean" and "active" not in st.taken:
                vm_name = f"{plan.name}_active"
                reason = (f"{', '.join(lost)} mean lost: those records are archived, which is how Odoo shows "
                          f"a lost {plan.model} (their stage stays {records[0].name})")
                st.extras.append(FieldProposal(
                    sources=[src.path], action="field",
                    row=FieldRow(source=src.path, target="active", value_map=vm_name, confidence=0.8, reason=reason),
                    value_map_name=vm_name, value_map=ValueMap(values={v: not self.lost(v) for v in src.values}),
                    confidence=0.8, reason=reason))
                st.taken["active"] = src.path
        chosen.value_map = ValueMap(values=values)
        missing = [v for v in src.values if v not in values]
        lossy = bool(missing) or len(set(values.values())) < len(values)
        if missing:
            chosen.reason += f"; no {relation} record for {', '.join(missing)}: choose one"
        if lossy:
            custom = self.custom_proposal(plan, src, placements, None, None)
            custom.reason = (f"several {src.path} values share a {relation} record, so the exact value is kept too; "
                             + custom.reason.split("; ", 1)[-1])
            custom.confidence = 0.8
            if custom.row is not None:
                custom.row = custom.row.model_copy(update={"confidence": 0.8, "reason": custom.reason})
            if custom.custom_field is not None and custom.custom_field.name not in st.taken:
                st.extras.append(custom)
                st.taken[custom.custom_field.name] = src.path
