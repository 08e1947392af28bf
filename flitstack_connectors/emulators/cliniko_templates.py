"""The templates of an emulated Cliniko account, as their section pages show them.

- ``treatment_note_templates`` (sections/treatment_note_templates.md): ``name``,
  ``content`` (sections of questions: text, paragraph with a default ``answer``,
  checkboxes and radiobuttons with ``answers``), ``print_settings``, ``deleted_at``;
  id 17000 is the template the appointment types link to.
- ``patient_form_templates`` (sections/patient_form_templates.md): ``name``,
  ``content`` (sections with a ``description`` and questions that may be
  ``required``, also of type signature and date), ``restricted_to_practitioner``,
  ``archived_at``. The list leaves archived templates out unless a filter names
  ``archived_at`` (the page lists it among its filters), like appointments.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TEMPLATE_COLLECTIONS = ("treatment_note_templates", "patient_form_templates")
#: the fields of each list as its section page shows them (``links`` left out)
DOCUMENTED_FIELDS = {
    "treatment_note_templates": frozenset({"content", "created_at", "deleted_at", "id", "name", "print_settings",
                                           "updated_at"}),
    "patient_form_templates": frozenset({"archived_at", "content", "created_at", "id", "name",
                                         "restricted_to_practitioner", "updated_at"}),
}
#: the fields each page lists under "Filtering ..."
DOCUMENTED_FILTERS = {
    "treatment_note_templates": frozenset({"created_at", "id", "updated_at"}),
    "patient_form_templates": frozenset({"archived_at", "created_at", "id", "updated_at"}),
}

_CHOICES = [{"value": "Improved"}, {"value": "Unchanged"}, {"value": "Worse"}]


def add_templates(data: dict[str, list[dict[str, Any]]], start: datetime) -> None:
    """Fill ``data["treatment_note_templates"]`` and ``data["patient_form_templates"]``."""
    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    notes = data["treatment_note_templates"]
    for i, name in enumerate(("Standard Consultation", "Initial Assessment", "Telehealth Review")):
        created = start + timedelta(days=2 + i)
        sections = [
            {"name": "Subjective", "questions": [
                {"name": "Patient progress report", "type": "paragraph",
                 "answer": "<div>Since the last visit the patient reports:</div>"},
                {"name": "Pain score (0-10)", "type": "text"}]},
            {"name": "Objective", "questions": [
                {"name": "Compared with the last visit", "type": "radiobuttons", "answers": _CHOICES},
                {"name": "Areas treated", "type": "checkboxes",
                 "answers": [{"value": "Neck"}, {"value": "Back"}, {"value": "Shoulder"}, {"value": "Knee"}]}]},
        ]
        if i == 1:
            sections.append({"name": "Plan", "questions": [{"name": "Treatment plan", "type": "paragraph"}]})
        notes.append({
            "id": str(17000 + i), "name": name, "content": {"sections": sections},
            "print_settings": {"include_patient_address": True, "include_patient_dob": i == 1,
                               "include_patient_medicare": None, "include_patient_occupation": None,
                               "include_patient_reference_number": None, "title": None},
            "deleted_at": None, "created_at": iso(created), "updated_at": iso(created),
        })

    forms = data["patient_form_templates"]
    for i, name in enumerate(("New Patient Intake", "COVID-19 Screening", "Consent to Treatment")):
        created = start + timedelta(days=5 + i)
        if i == 0:
            sections = [
                {"name": "Medical History", "description": "Tell us about your health.", "questions": [
                    {"name": "Please describe your medical history.", "type": "paragraph", "required": True},
                    {"name": "Date of your last GP visit", "type": "date"}]},
                {"name": "Current Condition", "questions": [
                    {"name": "Which of the following symptoms do you suffer from?", "type": "checkboxes",
                     "answers": [{"value": "Fever"}, {"value": "Headache"}, {"value": "Shortness of breath"}],
                     "required": False}]},
            ]
        elif i == 1:
            sections = [{"name": "Screening", "questions": [
                {"name": "Have you had a fever in the last 14 days?", "type": "radiobuttons",
                 "answers": [{"value": "Yes"}, {"value": "No"}], "required": True}]}]
        else:
            sections = [{"name": "Consent", "questions": [
                {"name": "I consent to the treatment described to me.", "type": "signature", "required": True}]}]
        forms.append({
            "id": str(18000 + i), "name": name, "content": {"sections": sections},
            "restricted_to_practitioner": i == 2,
            "archived_at": iso(created + timedelta(days=400)) if i == 1 else None,
            "created_at": iso(created), "updated_at": iso(created),
        })
