"""Proposal, steps 3 to 7: where each field of one map lands.

Source and target names, fields with nothing to migrate, composed values (names, address lines,
titles), scoring against every writable field, the greedy choice, and new custom fields."""
from __future__ import annotations

import re
from typing import Optional, Union

from ..records import FieldInfo, ObjectInfo, SourceRecord
from .apply import get_path
from .spec import CustomField, FieldRow, LookupRow, ValueMap
from .target_schema import FieldSpec
from .transforms import selection_key
from .value_profile import ValueProfile
from .vocabulary import Match, path_words, singular, split_words
from .proposal import (ACCEPT, MIN_SAMPLES_FOR_EMPTY, _ITEM_KIND_KEYS, _ITEM_PRIMARY_KEYS, _ITEM_SKIP_KEYS,
                       Action, FieldProposal, _Candidate, _display, _filtered, _fmt, _MapPlan, _MapState,
                       _Placement, _SourceField, custom_field_name)


class FieldSteps:
    """Proposes the rows of one map."""

    def target_texts(self, model: str, name: str, spec: FieldSpec) -> list[tuple[str, tuple[str, ...]]]:
        key = (model, name)
        cached = self._target_texts.get(key)
        if cached is None:
            words = split_words(name)
            while len(words) > 1 and words[-1] in ("id", "ids"):
                words.pop()
            texts = [("name", self.vocab.words(words)), ("label", self.vocab.words(spec.label or name))]
            for hint in self.vocab.field_hints.get(model, {}).get(name, ()):
                texts.append(("hint", self.vocab.words(hint)))
            texts.extend(("relation", t) for t in self.relation_texts(words, spec))
            cached = self._target_texts[key] = [(k, t) for k, t in texts if t]
        return cached

    def relation_texts(self, words: list[str], spec: FieldSpec) -> list[tuple[str, ...]]:
        """Names of a many2one field taken from the model it points at: the
        phrases objects landing on that model go by, alone and after the
        field's own words (crm.lead.team_id -> "pipeline"; res.partner.parent_id
        -> "parent account", "parent company")."""
        if spec.type != "many2one" or not spec.relation:
            return []
        own = self.vocab.words(words)
        out: list[tuple[str, ...]] = []
        for entry in self.vocab.object_models:
            if entry.get("model") != spec.relation:
                continue
            for phrase in self.vocab.phrase_words(entry.get("phrases", ())):
                for text in (phrase, tuple(dict.fromkeys(own + phrase))):
                    if text not in out:
                        out.append(text)
        return out

    def name_match(self, src: _SourceField, model: str, name: str, spec: FieldSpec
                   ) -> tuple[Match, tuple[str, ...], str, str]:
        """The best match of the source's names with the field's, the source
        words and target name that gave it, and what kind of target name it
        was (name, label, hint, relation)."""
        best: tuple[Match, tuple[str, ...], str, str] = (Match(0.0, "none"), (), "", "")
        for s_text in src.texts:
            for kind, t_text in self.target_texts(model, name, spec):
                m = self.vocab.similarity(s_text, t_text)
                if kind in ("hint", "relation") and m.kind not in ("exact", "synonym"):
                    continue  # a hint is another name for the field, not a word to share
                # on a tie, naming the model pointed at says most (it allows a lookup by name)
                if m.score > best[0].score or (kind == "relation" and m.score == best[0].score > 0
                                               and best[3] != "relation"):
                    if kind == "relation":
                        shown = f"{name} (points at {spec.relation}, '{_display(t_text)}')"
                    else:
                        shown = {"label": spec.label or name, "name": name}.get(
                            kind, f"{name} (as '{_display(t_text)}')")
                    best = (m, s_text, shown, kind)
        return best

    def candidate_fields(self, model: str) -> list[tuple[str, FieldSpec]]:
        out = []
        for name, spec in self.schema.iter_fields(model):
            if spec.type in ("one2many", "binary", "properties", "properties_definition", "json",
                             "many2one_reference", "reference"):
                continue
            if name in self.vocab.writable_readonly:
                out.append((name, spec))
                continue
            if spec.readonly or self.vocab.excluded_target(name):
                continue
            out.append((name, spec))
        return out

    def guess_relation(self, f: FieldInfo) -> FieldInfo:
        """A reference field that does not say what it points at (file exports:
        ``patient_id``) points at the object its name names."""
        if f.relation or f.type not in ("many2one", "many2many"):
            return f
        words = split_words(re.sub(r"\[[^\]]*\]", "", f.name))
        while len(words) > 1 and words[-1] in ("id", "ids"):
            words.pop()
        want = tuple(singular(w) for w in words)
        for other in self.objects:
            if tuple(singular(w) for w in split_words(other.name)) == want:
                return f.model_copy(update={"relation": other.name})
        return f

    def source_field(self, obj: ObjectInfo, f: FieldInfo, order: int, records: list[SourceRecord],
                     texts: Optional[list[tuple[str, ...]]] = None, derived: bool = False) -> _SourceField:
        f = self.guess_relation(f)
        path = f.name
        profile = ValueProfile.of(get_path(r.data, path) for r in records)
        if texts is None:
            if f.custom_id:
                texts = [self.vocab.words(f.label or path)]
            else:
                texts = [t for t in (self.vocab.words(path_words(path)), self.vocab.words(f.label or "")) if t]
                object_words = self.vocab.words(obj.name)
                for raw in dict.fromkeys(x for x in (" ".join(path_words(path)) if "/" not in path else path,
                                                     f.label) if x):
                    texts.extend(v for v in self.vocab.header_variants(raw, object_words) if v not in texts)
        kind = f.type
        sampled = profile.kind
        if kind == "char" and sampled:
            kind = {"url": "char", "text": "text", "integer": "digits"}.get(sampled, sampled)
        values = [str(v) for v in f.selection] or (profile.distinct if profile.picklist else [])
        return _SourceField(f, path, texts, kind, profile, values, order, derived)

    def item_fields(self, obj: ObjectInfo, f: FieldInfo, order: int, records: list[SourceRecord]
                    ) -> list[_SourceField]:
        """Paths into a list of sub-records seen in samples: the primary (or first)
        item's values, and items of a kind the vocabulary knows (``Mobile``)."""
        items = []
        for rec in records[:200]:
            value = get_path(rec.data, f.name)
            if isinstance(value, list):
                items.extend(x for x in value if isinstance(x, dict))
        if not items:
            return []
        keys: dict[str, None] = {}
        for item in items:
            for k, v in item.items():
                if isinstance(v, (str, int, float, bool)) or v is None:
                    keys.setdefault(k, None)
        primary = next((k for k in _ITEM_PRIMARY_KEYS if k in keys
                        and all(isinstance(i.get(k), bool) or i.get(k) is None for i in items)), None)
        kind_key, kinds = None, []
        for k in _ITEM_KIND_KEYS:
            if k in keys and k != primary:
                seen = list(dict.fromkeys(str(i[k]) for i in items if isinstance(i.get(k), str) and i.get(k)))
                if 1 <= len(seen) <= 6:
                    kind_key, kinds = k, seen
                    break
        value_keys = [k for k in keys if k not in _ITEM_SKIP_KEYS and k not in (primary, kind_key)]
        container = [w for w in self.vocab.words(f.name) if w not in set(self.vocab.words(obj.name))]
        base = f"{f.name}[{primary}=True]" if primary else f"{f.name}[0]"
        out: list[_SourceField] = []
        for k in value_keys:
            leaf = self.vocab.words(k)
            words = tuple(dict.fromkeys(container + list(leaf)))
            label = f"{f.label or f.name}: {k.replace('_', ' ')}"
            out.append(self.source_field(obj, FieldInfo(name=f"{base}.{k}", label=label), order, records,
                                         texts=[words], derived=True))
            for kind in kinds:
                kind_words = self.vocab.words(kind)
                if not self.vocab.concepts(kind_words):
                    continue
                words = tuple(dict.fromkeys(list(kind_words) + list(leaf)))
                out.append(self.source_field(
                    obj, FieldInfo(name=f"{f.name}[{kind_key}={kind}].{k}", label=f"{label} ({kind})"),
                    order, records, texts=[words], derived=True))
        return out

    def reference_candidates(self, plan: _MapPlan, src: _SourceField, fields: list[tuple[str, FieldSpec]],
                             placements: dict[str, _Placement]) -> tuple[list[_Candidate], str]:
        f = src.info
        ref = placements.get(f.relation or "")
        if ref is None or ref.model is None:
            return [], f"points at {f.relation or 'another object'}, which is not migrated"
        want, kind = ("res.users", "user") if ref.resolve_users else (ref.model, "record")
        many_source = f.type in ("many2many", "one2many")
        pointing = [(n, s) for n, s in fields if s.type in ("many2one", "many2many") and s.relation == want
                    and not (many_source and s.type == "many2one")]
        out = []
        for name, spec in pointing:
            m, s_text, t_label, _kind = self.name_match(src, plan.model, name, spec)
            score = 0.7 + 0.3 * m.score + (0.1 if len(pointing) == 1 else 0.0)
            many = spec.type == "many2many"
            if many and not many_source:
                score *= 0.95
            what = "staff resolved to users" if kind == "user" else f"{f.relation} land on {want}"
            reason = (f"references {f.relation} ({what}); '{_display(s_text)}' ~ '{t_label}' "
                      f"({_fmt(m.score)}, {m.kind})")
            if len(pointing) == 1:
                reason += f"; the only {plan.model} field pointing at {want}"
            row = LookupRow(source=src.path, target=name, kind=kind, object=f.relation, many=many,
                            required=spec.required, confidence=round(min(score, 1.0), 2), reason=reason)
            out.append(_Candidate(score, name, spec, row, reason))
        return out, f"no {plan.model} field points at {want}"

    def scalar_candidates(self, plan: _MapPlan, src: _SourceField, fields: list[tuple[str, FieldSpec]],
                          produced_models: set[str]) -> list[_Candidate]:
        table = self.vocab.type_compatibility
        compat_table = table.get(src.kind) or table.get("char", {})
        out = []
        for name, spec in fields:
            if spec.type == "many2many" and spec.relation not in self.vocab.name_lookup_models:
                continue
            m, s_text, t_label, t_kind = self.name_match(src, plan.model, name, spec)
            known_values = src.values
            if m.score < 0.45:
                # the name says little; values naming existing records may say more
                known_values = self.known_record_values(src, spec)
                if not known_values:
                    continue
                m, s_text, t_label, t_kind = Match(0.55, "values"), src.leaf, spec.label or name, "values"
            compat = compat_table.get(spec.type, 0.0)
            lookup_kind: Optional[str] = None
            notes: list[str] = []
            value_map: Optional[ValueMap] = None
            by_relation = t_kind == "relation"
            if spec.type in ("many2one", "many2many"):
                lookup_kind = "name"
                if spec.relation == "res.users":
                    compat, lookup_kind = self.user_compat(src, compat, notes), "user"
                elif spec.relation in produced_models:
                    if by_relation and m.kind == "exact" and self.names_records(src):
                        # "Parent Account": records of the same export, named
                        compat = min(compat, 0.75)
                        notes.append(f"values name {spec.relation} records, looked up by name "
                                     f"(load the records they name first)")
                    else:
                        compat = min(compat, 0.3)
                elif not (spec.relation in self.vocab.name_lookup_models
                          or self.schema.known_records(spec.relation or "")):
                    if by_relation and self.names_records(src):
                        compat = min(compat, 0.8)
                        notes.append(f"values name {spec.relation} records, looked up by name")
                    else:
                        compat = min(compat, 0.3)
            if compat <= 0:
                continue
            score = m.score * compat
            if src.profile.empty and src.profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
                score *= 0.7  # a column empty in every sample should not win a contested field
            concepts = (self.vocab.concepts(self.vocab.words(spec.label or name))
                        | self.vocab.concepts(self.vocab.words(name)))
            score = self._sample_evidence(src, spec, concepts, score, notes)
            transform, args = self.transform_for(src, spec, concepts)
            if spec.type == "selection" and src.values:
                mapped, _missing = self.selection_value_map(src.values, spec)
                if not mapped:
                    score *= 0.6
                    notes.append(f"none of {len(src.values)} source values matches a selection key")
                else:
                    score += 0.05 * len(mapped) / len(src.values)
                    notes.append(f"{len(mapped)}/{len(src.values)} source values match selection keys")
                    value_map = ValueMap(values=mapped)
                    transform, args = None, {}
            elif spec.type == "selection" and src.kind != "selection":
                score *= 0.8  # free text into a fixed list: only with the keys' own spelling
                transform, args = "selection_key", {}
            if lookup_kind == "name" and known_values and self.schema.known_records(spec.relation or ""):
                mapped, missing, kind = self.record_value_map(known_values, spec.relation or "")
                if mapped:
                    lookup_kind = kind
                    value_map = ValueMap(values=mapped)
                    # values naming existing records are strong evidence (Mr/Dr -> titles)
                    score += 0.2 * len(mapped) / len(known_values)
                    notes.append(f"{len(mapped)}/{len(known_values)} source values match existing "
                                 f"{spec.relation} records" + (f"; {len(missing)} need a choice" if missing else ""))
                else:
                    # a header naming the model outright still points there (Pipeline -> team_id)
                    score *= 0.8 if by_relation and m.kind == "exact" else 0.7
                    notes.append(f"no source value matches an existing {spec.relation} record")
            reason = f"name match '{_display(s_text)}' ~ '{t_label}' ({_fmt(m.score)}, {m.kind})"
            if compat < 1.0:
                reason += f"; {src.kind} into {spec.type} ({_fmt(compat)})"
            if notes:
                reason += "; " + ", ".join(notes)
            confidence = round(min(score, 1.0), 2)
            row: Union[FieldRow, LookupRow]
            if lookup_kind:
                row = LookupRow(source=src.path, target=name, kind=lookup_kind, many=spec.type == "many2many",
                                required=spec.required, confidence=confidence, reason=reason)
            else:
                row = FieldRow(source=src.path, target=name, transform=transform, args=args,
                               required=spec.required, confidence=confidence, reason=reason)
            out.append(_Candidate(score, name, spec, row, reason, value_map))
        return out

    def custom_part(self, f: FieldInfo) -> str:
        if f.custom_id:
            return f.label or f.name
        segments = [s for s in re.sub(r"\[[^\]]*\]", "", f.name).split(".") if s]
        if len(segments) > 1 and segments[-1] in ("id", "value"):
            segments.pop()
        return "_".join(segments)

    def custom_proposal(self, plan: _MapPlan, src: _SourceField, placements: dict[str, _Placement],
                        best: Optional[_Candidate], taken_by: Optional[str]) -> FieldProposal:
        f = src.info
        model = plan.model
        part = self.custom_part(f)
        name = custom_field_name("x", plan.obj.name, part)
        label = f.label or " ".join(split_words(part)).capitalize()
        ctype, transform = "char", "strip"
        selection: list[tuple[str, str]] = []
        value_map: Optional[ValueMap] = None
        relation = None
        lookup_kind: Optional[str] = None
        note = ""
        kind = src.kind
        if kind in ("many2one", "many2many", "one2many") and f.relation:
            ref = placements.get(f.relation)
            if ref is not None and ref.model and kind == "many2one":
                ctype = "many2one"
                relation = "res.users" if ref.resolve_users else ref.model
                lookup_kind = "user" if ref.resolve_users else "record"
            elif ref is not None and ref.model:
                ctype, transform = "char", "string"
                note = "; a list of references is kept as text (custom many2many fields are not proposed)"
            else:
                ctype, transform = "char", "string"
                note = f"; {f.relation} is not migrated, so the reference is kept as text"
        elif kind == "selection" and src.values:
            keys: dict[str, str] = {}
            for v in src.values:
                key = selection_key(v) or "value"
                while key in keys.values():
                    key += "_"
                keys[v] = key
            selection = [(k, v) for v, k in keys.items()]
            ctype, transform = "selection", None
            value_map = ValueMap(values=keys)
        elif kind in ("date", "datetime", "boolean", "integer", "float", "text", "html"):
            ctype = kind
            transform = {"date": "date", "datetime": "datetime", "boolean": "boolean", "integer": "integer",
                         "float": "float", "text": "strip", "html": None}[kind]
        elif kind == "monetary":
            ctype, transform = "float", "money"
            note = "; amounts become a float field (an Odoo monetary field needs a currency field)"
        elif kind == "json":
            ctype, transform = "text", "string"
        custom = CustomField(model=model, name=name, label=label[:100], type=ctype, selection=selection,
                             relation=relation,
                             help=f"Migrated from {self.source_kind} {plan.obj.name}: {f.label or f.name}")
        vm_name = name if value_map is not None else None
        if f.custom_id:
            confidence = 0.95
            reason = f"custom field of the source ({f.type})"
        else:
            best_score = min(best.score, 1.0) if best else 0.0
            confidence = round(max(0.5, min(0.95, 1.0 - best_score)), 2)
            if best is not None and taken_by:
                reason = f"best match {best.target} ({_fmt(best.score)}) is taken by {taken_by}"
            elif best is not None:
                reason = f"no {model} field matches well (best {best.target}, {_fmt(best.score)})"
            else:
                reason = f"no {model} field matches"
        reason += f"; new {ctype} field {name}" + note
        if src.profile.empty and src.profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
            reason += f"; empty in all {src.profile.sampled} sampled records"
            confidence = min(confidence, 0.5)
        if ctype == "selection":
            reason += f" with {len(selection)} options"
        row: Union[FieldRow, LookupRow]
        if lookup_kind:
            row = LookupRow(source=src.path, target=name, kind=lookup_kind,  # type: ignore[arg-type]
                            object=f.relation, confidence=confidence, reason=reason)
        else:
            row = FieldRow(source=src.path, target=name, transform=transform, value_map=vm_name,
                           confidence=confidence, reason=reason)
        return FieldProposal(sources=[src.path], action="custom", row=row, custom_field=custom,
                             value_map_name=vm_name, value_map=value_map, confidence=confidence, reason=reason,
                             alternatives=[(best.target, round(min(best.score, 1.0), 2))] if best else [])

    def skips(self, plan: _MapPlan, sources: list[_SourceField], st: _MapState) -> None:
        split = self.vocab.partner_split
        person_only = self.vocab.phrase_words(split.get("person_only", ()))
        company_only = self.vocab.phrase_words(split.get("company_only", ()))
        name_parts = [w for role in ("first", "middle", "last")
                      for w in self.vocab.phrase_words(self.vocab.person_name.get(role, ()))]
        has_items = {s.path.split("[", 1)[0] for s in sources if s.derived}
        for src in sources:
            if src.derived:
                continue
            leaf = self.vocab.words(path_words(src.path))
            skip_reason = self.vocab.skip_source_fields.get("_".join(split_words(src.path)))
            if skip_reason:
                st.skip(src, skip_reason)
            elif src.path == plan.discriminator:
                st.skip(src, f"splits {plan.obj.name} into companies and people (the maps filter on it)")
            elif plan.role == "company" and (leaf in person_only or leaf in name_parts
                                             or src.info.relation == plan.obj.name):
                st.skip(src, "a detail of people; this map takes companies", 0.7)
            elif plan.role in ("person", "employee") and leaf in company_only and not src.info.custom_id:
                st.skip(src, "a company detail; people take their name from its parts", 0.7)
            elif plan.role == "person" and src.path == plan.parent_ref:
                st.skip(src, "people of this map belong to no company (the map filters on it)", 0.8)
            elif src.kind == "json" and not src.info.custom_id:
                if src.path in has_items:
                    st.skip(src, "a list of sub-records; its items are offered by path below", 0.8)
                else:
                    st.skip(src, "a nested list or object; map its parts by path instead "
                                 "(for example addresses[primary=True].street)", 0.6)

    def person_name(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
                    st: _MapState) -> None:
        if plan.role == "company":
            return
        rules = self.vocab.person_name
        target = (plan.companion or {}).get("person_name_target") or rules.get("target", {}).get(plan.model)
        if not target or target not in dict(fields) or target in st.taken:
            return
        parts: dict[str, _SourceField] = {}
        for role in ("first", "middle", "last"):
            phrases = self.vocab.phrase_words(rules.get(role, ()))
            for src in sources:
                if src.path in st.result or src.info.custom_id or src.derived:
                    continue
                if src.leaf in phrases:
                    parts.setdefault(role, src)
                    break
        if "first" not in parts or "last" not in parts:
            return
        full = next((s for s in sources if s.path not in st.result and not s.info.custom_id
                     and s.leaf in (("name",), ("full", "name"))), None)
        if full is not None and plan.role in (None, "companion"):
            return  # a full name, and people are not split from companies: use it as it is
        roles = [r for r in ("first", "middle", "last") if r in parts]
        paths = [parts[r].path for r in roles]
        reason = f"people's {', '.join(roles)} names joined into {target}"
        row = FieldRow(sources=paths, target=target, transform="concat", required=True,
                       confidence=0.9, reason=reason)
        proposal = FieldProposal(sources=paths, action="field", row=row, confidence=0.9, reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[target] = " + ".join(paths)
        if full is not None:
            st.result[full.path] = FieldProposal(
                sources=[full.path], action="skip", confidence=0.8,
                reason=f"{target} is built from the name parts ({', '.join(paths)})")

    def address_lines(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
                      st: _MapState) -> None:
        rule = self.vocab.data.get("address_lines") or {}
        target = rule.get("target")
        if not target or target not in dict(fields) or target in st.taken or plan.role == "employee":
            return
        lines = []
        for concept in rule.get("concepts", ()):
            src = next((s for s in sources if s.path not in st.result and not s.derived and not s.info.custom_id
                        and self.vocab.concepts(s.leaf) == {"@" + concept}), None)
            if src is None:
                return
            lines.append(src)
        paths = [s.path for s in lines]
        reason = f"address lines {', '.join(paths)} joined into {target} (Odoo has two street lines)"
        row = FieldRow(sources=paths, target=target, transform="concat", args={"sep": rule.get("sep", ", ")},
                       confidence=0.85, reason=reason)
        proposal = FieldProposal(sources=paths, action="field", row=row, confidence=0.85, reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[target] = " + ".join(paths)

    def own_address(self, plan: _MapPlan, sources: list[_SourceField], st: _MapState) -> None:
        """People of a company: their address goes to one custom text field."""
        rule = self.vocab.partner_split.get("with_parent") or {}
        if plan.role != "employee":
            return
        concepts = {"@" + c for c in rule.get("address_concepts", ())}
        parts = [s for s in sources if s.path not in st.result and not s.derived and not s.info.custom_id
                 and self.vocab.concepts(s.leaf) & concepts]
        if not parts:
            return
        name = custom_field_name("x", plan.obj.name, rule.get("field", "own address"))
        paths = [s.path for s in parts]
        reason = f"{rule.get('why', 'own address kept apart')}; new char field {name}"
        custom = CustomField(model=plan.model, name=name, label=rule.get("label", "Own address"), type="char",
                             help=f"Migrated from {self.source_kind} {plan.obj.name}: the person's own address")
        row = FieldRow(sources=paths, target=name, transform="concat", args={"sep": ", "}, confidence=0.85,
                       reason=reason)
        proposal = FieldProposal(sources=paths, action="custom", row=row, custom_field=custom, confidence=0.85,
                                 reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[name] = " + ".join(paths)

    def title(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
              st: _MapState) -> None:
        """A required name built from the record's number or type and its description or client."""
        groups = self.vocab.data.get("title_parts", {}).get(plan.model)
        spec = dict(fields).get("name")
        if not groups or spec is None or "name" in st.taken or not spec.required:
            return
        direct = {self.vocab.words("name"), self.vocab.words(spec.label or "name")}
        direct.update(self.vocab.phrase_words(self.vocab.field_hints.get(plan.model, {}).get("name", ())))
        if any(s.leaf in direct for s in sources if s.path not in st.result and not s.derived):
            return
        chosen: list[_SourceField] = []
        for group in groups:
            for phrase in self.vocab.phrase_words(group):
                src = next((s for s in sources if s.leaf == phrase and s not in chosen
                            and not s.derived and not s.info.custom_id
                            and (s.path not in st.result or st.result[s.path].action != "skip")), None)
                if src is not None:
                    chosen.append(src)
                    break
        if not chosen:
            return
        paths = [s.path for s in chosen]
        reason = f"the {spec.label or 'name'} ({plan.model}.name, required) is built from {' and '.join(paths)}"
        if len(paths) > 1:
            row = FieldRow(sources=paths, target="name", transform="concat", args={"sep": " - "}, required=True,
                           confidence=0.8, reason=reason)
        else:
            row = FieldRow(source=paths[0], target="name", transform="strip", required=True, confidence=0.8,
                           reason=reason)
        st.extras.append(FieldProposal(sources=paths, action="field", row=row, confidence=0.8, reason=reason))
        st.taken["name"] = " + ".join(paths)
        st.title_sources.update(paths)

    def link(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
             st: _MapState) -> None:
        companion = plan.companion
        if not companion or not companion.get("link"):
            return
        link = companion["link"]
        target = link.get("target")
        src = next((s for s in sources if s.path == link.get("source")), None)
        if src is None or target not in dict(fields):
            return
        reason = f"links to the {plan.obj.name} record's own {dict(fields)[target].relation} (same source id)"
        row = LookupRow(source=src.path, target=target, kind="record", object=plan.obj.name, required=True,
                        confidence=0.95, reason=reason)
        st.result[src.path] = FieldProposal(sources=[src.path], action="lookup", row=row, confidence=0.95,
                                            reason=reason)
        st.taken[target] = src.path

    def propose_fields(self, plan: _MapPlan, placements: dict[str, _Placement]) -> list[FieldProposal]:
        obj = plan.obj
        records = _filtered(self.samples.get(obj.name, []), plan.filter)
        sources: list[_SourceField] = []
        for i, f in enumerate(obj.fields):
            sources.append(self.source_field(obj, f, i, records))
            if f.type == "json" and not f.custom_id:
                sources.extend(self.item_fields(obj, f, len(obj.fields) + i, records))
        fields = self.candidate_fields(plan.model)
        produced = {p.model for p in placements.values() if p.model and not p.resolve_users}
        st = _MapState()
        self.skips(plan, sources, st)
        self.link(plan, sources, fields, st)
        self.person_name(plan, sources, fields, st)
        self.own_address(plan, sources, st)
        self.address_lines(plan, sources, fields, st)
        self.title(plan, sources, fields, st)
        # 5. score what is left
        candidates: list[tuple[_SourceField, _Candidate]] = []
        no_ref_reason: dict[str, str] = {}
        for src in sources:
            if src.path in st.result or src.info.custom_id:
                continue
            if src.info.relation and src.kind in ("many2one", "many2many", "one2many"):
                if plan.role == "company" and src.info.relation == obj.name:
                    continue
                cands, why = self.reference_candidates(plan, src, fields, placements)
                if not cands:
                    no_ref_reason[src.path] = why
            else:
                cands = self.scalar_candidates(plan, src, fields, produced)
            candidates.extend((src, c) for c in cands)
        # 6. best pairs first
        candidates.sort(key=lambda sc: (-round(sc[1].score, 6), sc[0].order, sc[1].target))
        best_of: dict[str, _Candidate] = {}
        alternatives: dict[str, list[tuple[str, float]]] = {}
        for src, cand in candidates:
            best_of.setdefault(src.path, cand)
            alternatives.setdefault(src.path, []).append((cand.target, round(min(cand.score, 1.0), 2)))
        chosen: list[tuple[_SourceField, FieldProposal]] = []
        for src, cand in candidates:
            if src.path in st.result or cand.score < ACCEPT or cand.target in st.taken:
                continue
            st.taken[cand.target] = src.path
            vm_name = None
            if cand.value_map is not None:
                vm_name = f"{plan.name}_{cand.target}"
                cand.row = cand.row.model_copy(update={"value_map": vm_name})
            action: Action = "lookup" if isinstance(cand.row, LookupRow) else "field"
            proposal = FieldProposal(
                sources=[src.path], action=action, row=cand.row, value_map_name=vm_name,
                value_map=cand.value_map, confidence=round(min(cand.score, 1.0), 2), reason=cand.reason,
                alternatives=[a for a in alternatives[src.path] if a[0] != cand.target][:3])
            st.result[src.path] = proposal
            chosen.append((src, proposal))
        for src, proposal in chosen:
            self.stage_extras(plan, src, proposal, fields, st, placements)
            if proposal.row is not None:
                proposal.row = proposal.row.model_copy(update={"reason": proposal.reason})
        # 7. the rest: new custom fields
        for src in sources:
            if src.path in st.result:
                continue
            if src.derived:
                continue  # paths into sub-records only ever land on existing fields
            if src.path in no_ref_reason and not (placements.get(src.info.relation or "")
                                                  and placements[src.info.relation or ""].model):
                st.skip(src, no_ref_reason[src.path], 0.6)
                continue
            if plan.role == "company" and src.info.relation == obj.name:
                st.skip(src, "a company has no company above it in this map", 0.7)
                continue
            if src.path in st.title_sources and not src.values:
                # a unique number or text is already in the name; a category keeps its own field
                st.skip(src, f"kept in the {plan.model} name it helps build", 0.7)
                continue
            best = best_of.get(src.path)
            taken_by = st.taken.get(best.target) if best else None
            proposal = self.custom_proposal(plan, src, placements, best, taken_by)
            if proposal.custom_field is not None and proposal.custom_field.name in st.taken:
                st.skip(src, f"its custom field {proposal.custom_field.name} is already written here", 0.5)
                continue
            if proposal.custom_field is not None:
                st.taken[proposal.custom_field.name] = src.path
            st.result[src.path] = proposal
        ordered: list[FieldProposal] = list(st.extras)
        seen = {id(fp) for fp in ordered}
        for src in sources:
            fp = st.result.get(src.path)
            if fp is not None and id(fp) not in seen:
                seen.add(id(fp))
                ordered.append(fp)
        return ordered
