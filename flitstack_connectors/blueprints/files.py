"""Blueprints of the file sources: Clientjoy's configuration files and the
appointment types of a clinic system's export.

Clientjoy: an export holds its email sequences, templates, web forms and portal
settings only where the account handed them over (emulators/clientjoy_settings.py
gives each file's columns); a kind whose file is absent is left out, and the
archive's index names it. Clinic exports carry no configuration at all: what a
clinic set up (its appointment types and their durations) is read back from the
appointments themselves.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import datetime
from typing import Any, Iterator, Optional

from ..sources.csv_export import normalise_header
from .models import (
    ClientjoyEmailSequence, ClientjoyEmailSequencesBlueprint, ClientjoyPortalSetting, ClientjoyPortalSettingsBlueprint,
    ClientjoyTemplate, ClientjoyTemplatesBlueprint, ClientjoyWebForm, ClientjoyWebFormsBlueprint,
    ClinicAppointmentType, ClinicAppointmentTypesBlueprint, Rebuild, SequenceStep, WebFormField,
)

#: kind -> the file names (stems) it is read from
CLIENTJOY_FILES = {
    "clientjoy_email_sequences": ("email_sequences", "sequences"),
    "clientjoy_templates": ("templates", "document_templates", "proposal_templates"),
    "clientjoy_web_forms": ("web_forms", "forms"),
    "clientjoy_portal_settings": ("portal_settings", "client_portal"),
}
_MERGE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
#: what a Clientjoy form field fills -> the crm.lead field a website form fills
_LEAD_FIELDS = {"name": "contact_name", "full_name": "contact_name", "email": "email_from", "phone": "phone",
                "company": "partner_name", "notes": "description", "message": "description", "website": "website"}


def _rows(files: Any, stems: tuple[str, ...]) -> Optional[list[dict[str, str]]]:
    name = files.find_csv(stems)
    if name is None:
        return None
    with files.open_file(name) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return [{normalise_header(k or ""): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(text)]


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def clientjoy(source: Any, now: datetime) -> tuple[list, list[str]]:
    """The Clientjoy documents the export has files for, and the kinds it has none for."""
    files = source.reader.files
    docs, absent = [], []
    for kind, stems in CLIENTJOY_FILES.items():
        rows = _rows(files, stems)
        if rows is None:
            absent.append(kind)
            continue
        docs.append(_BUILDERS[kind](rows, now))
    return docs, absent


def _sequences(rows: list[dict[str, str]], now: datetime) -> ClientjoyEmailSequencesBlueprint:
    grouped: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        grouped.setdefault(r.get("sequence_id") or r.get("sequence_name", ""), []).append(r)
    items = []
    for sid, steps in grouped.items():
        name = steps[0].get("sequence_name") or sid
        trigger = steps[0].get("trigger") or None
        ordered = sorted(steps, key=lambda r: _number(r.get("step", "")) or 0)
        parsed = [SequenceStep(step=int(_number(r.get("step", "")) or k + 1), delay_days=_number(r.get("delay_days", "")),
                               subject=r.get("subject") or None, body=r.get("body") or None)
                  for k, r in enumerate(ordered)]
        items.append(ClientjoyEmailSequence(
            source_id=sid, name=name, trigger=trigger, steps=parsed,
            rebuild=Rebuild(odoo_model="mail.template", feature="Settings > Technical > Email Templates, then "
                                                                "Settings > Technical > Automation Rules",
                            steps=[f"Create one email template (mail.template) on crm.lead per step of {name!r}, "
                                   f"its subject and body from the step (Clientjoy's {{{{first_name}}}} becomes "
                                   f"{{{{ object.contact_name }}}})."]
                            + [f"Create an automation rule (base.automation) on crm.lead, trigger 'Based on date "
                               f"field' Created on + {s.delay_days:g} days (the sequence starts on {trigger!r}), "
                               f"action 'Send email' with the template of step {s.step}."
                               for s in parsed if s.delay_days is not None])))
    return ClientjoyEmailSequencesBlueprint(title="Clientjoy email sequences", generated_at=now,
                                            item_count=len(items), items=items)


def _templates(rows: list[dict[str, str]], now: datetime) -> ClientjoyTemplatesBlueprint:
    items = []
    for r in rows:
        content = r.get("content") or None
        merge = [m.strip() for m in (r.get("merge_fields") or "").split(",") if m.strip()]
        for found in _MERGE.findall(content or ""):
            if found not in merge:
                merge.append(found)
        ttype = (r.get("type") or "document").lower()
        name = r.get("template_name") or r.get("template_id", "")
        if ttype == "proposal":
            rebuild = Rebuild(odoo_model="sale.order.template", feature="Sales > Configuration > Quotation Templates",
                              steps=[f"Create the quotation template {name!r} (sale.order.template) with the "
                                     f"proposal's text as its terms and its priced items as lines.",
                                     "Merge fields become the quotation's own fields (partner, amounts, dates)."])
        else:
            rebuild = Rebuild(odoo_model="ir.ui.view", feature="Settings > Technical > Reports (a QWeb report)",
                              steps=[f"Create a QWeb report {name!r} (ir.actions.report and its ir.ui.view) on "
                                     f"res.partner or crm.lead with the template's content.",
                                     "Rewrite each merge field as a t-field expression: "
                                     + ", ".join(f"{{{{{m}}}}}" for m in merge) + "."])
        items.append(ClientjoyTemplate(source_id=r.get("template_id") or name, name=name, template_type=ttype,
                                       content=content, merge_fields=merge, rebuild=rebuild))
    return ClientjoyTemplatesBlueprint(title="Clientjoy document and proposal templates", generated_at=now,
                                       item_count=len(items), items=items)


def _forms(rows: list[dict[str, str]], now: datetime) -> ClientjoyWebFormsBlueprint:
    grouped: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        grouped.setdefault(r.get("form_id") or r.get("form_name", ""), []).append(r)
    items = []
    for fid, fields in grouped.items():
        name = fields[0].get("form_name") or fid
        parsed = [WebFormField(label=r.get("field_label") or "", type=r.get("field_type") or None,
                               required=(r.get("required") or "").lower() in ("yes", "true", "1", "y"),
                               maps_to=r.get("maps_to") or None,
                               odoo_field=_LEAD_FIELDS.get(normalise_header(r.get("maps_to") or "")))
                  for r in fields]
        items.append(ClientjoyWebForm(
            source_id=fid, name=name, fields=parsed,
            rebuild=Rebuild(odoo_model="website.page", feature="Website > Site > Pages (a Form block, action "
                                                               "'Create an Opportunity')",
                            steps=[f"Add a page with a Form block {name!r} whose action creates a Lead/Opportunity "
                                   f"(website_crm)."]
                            + [f"Field {f.label!r} ({f.type}{', required' if f.required else ''}) -> "
                               f"{f.odoo_field or 'a custom x_ field on crm.lead'}." for f in parsed])))
    return ClientjoyWebFormsBlueprint(title="Clientjoy web forms", generated_at=now, item_count=len(items),
                                      items=items)


_PORTAL_FEATURES = {"custom_domain": "Website > Configuration > Settings > Domain",
                    "brand_color": "Website > Editor > Theme colours", "logo_url": "Website > Editor > Logo",
                    "custom_css": "Website > Editor > HTML/CSS editor",
                    "remove_clientjoy_branding": "Website > Editor (footer: 'Powered by Odoo' block)"}


def _portal(rows: list[dict[str, str]], now: datetime) -> ClientjoyPortalSettingsBlueprint:
    items = []
    for r in rows:
        setting = r.get("setting") or ""
        feature = _PORTAL_FEATURES.get(setting, "Settings > General Settings > Customer Account (portal access)")
        items.append(ClientjoyPortalSetting(
            source_id=setting, name=setting, value=r.get("value") or None,
            rebuild=Rebuild(odoo_model="website" if setting in _PORTAL_FEATURES else "res.config.settings",
                            feature=feature, steps=[f"Set {setting!r} to {r.get('value')!r} in {feature}."])))
    return ClientjoyPortalSettingsBlueprint(title="Clientjoy client portal settings", generated_at=now,
                                            item_count=len(items), items=items)


_BUILDERS = {"clientjoy_email_sequences": _sequences, "clientjoy_templates": _templates,
             "clientjoy_web_forms": _forms, "clientjoy_portal_settings": _portal}


def _minutes(record: dict[str, Any]) -> Optional[int]:
    start, end = record.get("start"), record.get("end")
    try:
        a = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        b = end if isinstance(end, datetime) else datetime.fromisoformat(str(end))
    except (TypeError, ValueError):
        return None
    minutes = int((b - a).total_seconds() // 60)
    return minutes if minutes > 0 else None


def clinic_csv(source: Any, now: datetime) -> list:
    """The clinic export's appointment types, from its appointments."""
    counts: Counter = Counter()
    durations: dict[str, Counter] = {}
    records: Iterator = source.read("appointments") if "appointments" in source.available_objects() else iter(())
    for r in records:
        kind = (r.data.get("appointment_type") or "").strip()
        if not kind:
            continue
        counts[kind] += 1
        minutes = _minutes(r.data)
        if minutes:
            durations.setdefault(kind, Counter())[minutes] += 1
    items = []
    for kind in sorted(counts):
        seen = durations.get(kind, Counter())
        usual = seen.most_common(1)[0][0] if seen else None
        items.append(ClinicAppointmentType(
            source_id=kind, name=kind, appointments=counts[kind], usual_duration_minutes=usual,
            durations_minutes=sorted(seen),
            rebuild=Rebuild(odoo_model="calendar.event.type", feature="Calendar > Configuration > Meeting Types",
                            steps=[f"Create the meeting type {kind!r} (calendar.event.type)."
                                   + (f" Appointments of this type usually last {usual} minutes." if usual else "")])))
    return [ClinicAppointmentTypesBlueprint(
        title="Clinic appointment types", generated_at=now, item_count=len(items), items=items,
        notes=["Clinic exports carry no schedule templates, reminders or forms: rebuild those from the "
               "clinic system's settings screens."])]
