"""Cliniko's blueprints: appointment types, treatment note templates and patient
form templates, read through the API with the Cliniko source's client.

What each page of Cliniko's API documentation (redguava/cliniko-api, sections/*.md)
gives, and so what the blueprints hold:

- appointment_types.md: name, category, description, colour, duration, maximum
  attendees, whether online bookings show it, its billable item, product and
  treatment note template (links), archived ones at ``/appointment_types/archived``.
  The page has no reminder, confirmation or online-booking form setting: those
  stay in Cliniko (Settings > Appointment reminders) and the document says so;
- treatment_note_templates.md: sections of questions with default answers and the
  print settings (deleted templates, at ``/treatment_note_templates/deleted``, are
  left out);
- patient_form_templates.md: sections of questions (required, choices), whether a
  template is restricted to practitioners; archived ones with ``q[]=archived_at:*``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Optional

from .models import (
    ClinikoAppointmentType, ClinikoAppointmentTypesBlueprint, ClinikoPatientFormTemplatesBlueprint, ClinikoTemplate,
    ClinikoTreatmentNoteTemplatesBlueprint, FormQuestion, FormSection, Rebuild, Ref,
)


def _link_ref(value: Any) -> Optional[Ref]:
    url = ((value or {}).get("links") or {}).get("self") if isinstance(value, dict) else None
    return Ref(id=url.rstrip("/").rsplit("/", 1)[1]) if url else None


def _items(source: Any, collection: str, filters: Optional[list[str]] = None,
           path: Optional[str] = None) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"per_page": source.per_page, "sort": "id"}
    if filters:
        params["q[]"] = filters
    return source._items(collection, params, path=path)


def _sections(content: Any) -> list[FormSection]:
    out = []
    for section in (content or {}).get("sections") or []:
        questions = [FormQuestion(
            name=q.get("name") or "", type=q.get("type") or "text", required=q.get("required"),
            answers=[str(a.get("value")) for a in q.get("answers") or [] if a.get("value") is not None],
            default_answer=q.get("answer")) for q in section.get("questions") or []]
        out.append(FormSection(name=section.get("name"), description=section.get("description"), questions=questions))
    return out


_SURVEY_TYPES = {"text": "Single Line Text Box", "paragraph": "Multiple Lines Text Box",
                 "checkboxes": "Multiple choice: multiple answers allowed", "radiobuttons":
                 "Multiple choice: only one answer", "date": "Date", "signature": "Multiple Lines Text Box "
                 "(Odoo Surveys has no signature question: use Sign, or an attachment)"}


def read(source: Any, now: datetime) -> list:
    """The three Cliniko blueprint documents of ``source`` (a ClinikoSource)."""
    types = []
    names = {t["id"]: t.get("name") for t in _items(source, "treatment_note_templates")}
    for path in ("appointment_types", "appointment_types/archived"):
        for t in _items(source, "appointment_types", path=path):
            template = _link_ref(t.get("treatment_note_template"))
            if template is not None:
                template.name = names.get(template.id)
            name = t.get("name") or ""
            types.append(ClinikoAppointmentType(
                source_id=str(t["id"]), name=name, category=t.get("category"), description=t.get("description"),
                color=t.get("color"), duration_in_minutes=t.get("duration_in_minutes"),
                max_attendees=t.get("max_attendees"), show_in_online_bookings=t.get("show_in_online_bookings"),
                archived=bool(t.get("archived_at")), billable_item=_link_ref(t.get("billable_item")),
                product=_link_ref(t.get("product")), treatment_note_template=template,
                rebuild=Rebuild(
                    odoo_model="calendar.event.type", feature="Calendar > Configuration > Meeting Types "
                                                              "(Appointments app: Appointment Types)",
                    steps=[f"Create the meeting type {name!r} (calendar.event.type), colour {t.get('color')}.",
                           f"With the Appointments app (Enterprise): an appointment type {name!r} of "
                           f"{t.get('duration_in_minutes')} minutes, at most {t.get('max_attendees')} attendee(s), "
                           f"{'published' if t.get('show_in_online_bookings') else 'not published'} online."
                           + (" Archive it: it is archived in Cliniko." if t.get("archived_at") else "")])))
    notes = []
    for t in _items(source, "treatment_note_templates"):
        name = t.get("name") or ""
        sections = _sections(t.get("content"))
        notes.append(ClinikoTemplate(
            source_id=str(t["id"]), name=name, sections=sections, print_settings=t.get("print_settings"),
            rebuild=Rebuild(odoo_model="mail.template", feature="Settings > Technical > Email Templates "
                                                                "(used from 'Log note' on the patient's lead)",
                            steps=[f"Create the template {name!r} on Lead/Opportunity (crm.lead) whose body lists "
                                   f"the sections and questions below as headings and empty lines.",
                                   "Practitioners log a treatment note by choosing it in the chatter's "
                                   "'Log note' composer."])))
    forms = []
    for t in _items(source, "patient_form_templates", filters=["archived_at:*"]):
        name = t.get("name") or ""
        sections = _sections(t.get("content"))
        steps = [f"Create the survey {name!r} (Surveys app, survey.survey), access by invitation only."]
        for s in sections:
            steps.append(f"Add the section {s.name or '(untitled)'!r} with "
                         + "; ".join(f"{q.name!r} as {_SURVEY_TYPES.get(q.type, q.type)}"
                                     + (" (mandatory)" if q.required else "") for q in s.questions) + ".")
        forms.append(ClinikoTemplate(
            source_id=str(t["id"]), name=name, sections=sections, archived=bool(t.get("archived_at")),
            restricted_to_practitioner=t.get("restricted_to_practitioner"),
            rebuild=Rebuild(odoo_model="survey.survey", feature="Surveys > Surveys", steps=steps)))
    return [
        ClinikoAppointmentTypesBlueprint(
            title="Cliniko appointment types", generated_at=now, item_count=len(types), items=types,
            notes=["Cliniko's API does not expose appointment reminder, confirmation or online booking form "
                   "settings: copy them from Cliniko's Settings (Appointment reminders, Online bookings) to "
                   "Odoo's reminders (calendar.alarm) and appointment questions."]),
        ClinikoTreatmentNoteTemplatesBlueprint(
            title="Cliniko treatment note templates", generated_at=now, item_count=len(notes), items=notes,
            notes=["Deleted templates (/treatment_note_templates/deleted) are left out."]),
        ClinikoPatientFormTemplatesBlueprint(
            title="Cliniko patient form templates", generated_at=now, item_count=len(forms), items=forms),
    ]
