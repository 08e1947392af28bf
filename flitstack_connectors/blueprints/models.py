"""The blueprint documents: one pydantic model per kind, each with its version.

A blueprint is what a source holds that Odoo cannot take as data (templates,
workflows, stages, settings, rates): the source's own values, item by item, and
for each item the Odoo 18 feature to rebuild it with. Every document has:

- ``schema_version``: the version of its kind's schema (``MAJOR.MINOR``; a new
  optional field raises MINOR, anything else MAJOR);
- ``kind``, ``source``, ``title``, ``generated_at``, ``item_count``;
- ``notes``: what the source could not give (a setting its API does not expose,
  rates listed by id only), in words;
- ``items``: the source's values, each with ``rebuild`` (Odoo model, feature, steps).

The JSON Schema of each kind is published in ``schemas/<kind>.schema.json``
(:func:`flitstack_connectors.blueprints.write_schemas`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


class Rebuild(BaseModel):
    """How to rebuild one item in Odoo 18."""

    model_config = ConfigDict(extra="forbid")
    odoo_model: str = Field(description="The Odoo model the item becomes (base.automation, mail.template, "
                                        "calendar.event.type, product.pricelist ...)")
    feature: str = Field(description="Where the Odoo administrator builds it, as Odoo's menus name it")
    steps: list[str] = Field(description="What to create, in order, with the source's values")


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_id: str = Field(description="The item's id in the source")
    name: str = Field(description="The item's name in the source")
    rebuild: Rebuild


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal["1.0"] = Field(SCHEMA_VERSION, description="Version of this kind's schema")
    title: str
    generated_at: datetime = Field(description="When the blueprint was read from the source (UTC)")
    item_count: int = Field(ge=0, description="Number of items")
    notes: list[str] = Field(default_factory=list, description="What the source could not give, in words")


class Ref(BaseModel):
    """A record the item names: its id in the source and its name there."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: Optional[str] = None


# ---------------------------------------------------------------------------
# Clio


class ClioTaskTemplate(BaseModel):
    """One task of a task template list."""

    model_config = ConfigDict(extra="forbid")
    source_id: str
    name: str
    description: Optional[str] = None
    priority: Optional[Literal["High", "Normal", "Low"]] = None
    private: Optional[bool] = None
    assignee: Optional[Ref] = None
    task_type: Optional[Ref] = None
    follows: Optional[Ref] = Field(None, description="The task this one cascades from (cascading_source)")
    reminders: list[dict[str, Any]] = Field(default_factory=list,
                                            description="Reminder templates: duration (minutes) and notification type")


class ClioTaskTemplateList(_Item):
    """A task template list (Clio's matter workflow): the tasks a matter starts with."""

    description: Optional[str] = None
    practice_area: Optional[Ref] = None
    tasks: list[ClioTaskTemplate]


class ClioTaskTemplatesBlueprint(_Document):
    """Clio task template lists and their task templates."""

    kind: Literal["clio_task_templates"] = "clio_task_templates"
    source: Literal["clio"] = "clio"
    items: list[ClioTaskTemplateList]


class ClioDocumentTemplate(_Item):
    """A document template (an uploaded file with Clio merge fields)."""

    filename: str
    content_type: Optional[str] = None
    size: Optional[int] = None
    category: Optional[Ref] = None


class ClioDocumentTemplatesBlueprint(_Document):
    """Clio document templates (the files stay in Clio: download them from Documents > Templates)."""

    kind: Literal["clio_document_templates"] = "clio_document_templates"
    source: Literal["clio"] = "clio"
    items: list[ClioDocumentTemplate]


class ClioMatterStage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_id: str
    name: str
    order: Optional[int] = None


class ClioStagePipeline(_Item):
    """The matter stages of one practice area, in order."""

    practice_area: Optional[Ref] = None
    stages: list[ClioMatterStage]


class ClioMatterStagesBlueprint(_Document):
    """Clio matter stages, per practice area."""

    kind: Literal["clio_matter_stages"] = "clio_matter_stages"
    source: Literal["clio"] = "clio"
    items: list[ClioStagePipeline]


class ClioCustomAction(_Item):
    """A custom action: a link Clio shows on a page, opening an outside URL."""

    target_url: str
    ui_reference: Optional[str] = Field(None, description="The Clio page the link shows on (matters/show ...)")


class ClioCustomActionsBlueprint(_Document):
    """Clio custom actions."""

    kind: Literal["clio_custom_actions"] = "clio_custom_actions"
    source: Literal["clio"] = "clio"
    items: list[ClioCustomAction]


class ClioWebhook(_Item):
    """A webhook: Clio posts a record's fields to a URL on its events (the shared secret is not read)."""

    url: str
    model: Optional[str] = None
    events: list[str] = Field(default_factory=list)
    fields: Optional[str] = None
    status: Optional[str] = None
    expires_at: Optional[str] = None


class ClioWebhooksBlueprint(_Document):
    """Clio webhooks."""

    kind: Literal["clio_webhooks"] = "clio_webhooks"
    source: Literal["clio"] = "clio"
    items: list[ClioWebhook]


class ClioRate(_Item):
    """One rate of Clio's hierarchy. Clio charges the most specific that applies:
    Matter (a matter's custom rate for a user), then Client (a client's rate for a
    user), then Activity (a flat-rate activity description), then Default (the user's rate)."""

    level: Literal["Matter", "Client", "Activity", "Default"]
    amount: Optional[float] = Field(None, description="Hourly rate, flat amount, or contingency percentage; "
                                                      "null where Clio does not give it")
    rate_type: str = Field(description="HourlyRate, FlatRate or ContingencyFee")
    user: Optional[Ref] = None
    client: Optional[Ref] = None
    matter: Optional[Ref] = None
    activity_description: Optional[Ref] = None
    on_invoice: Optional[bool] = None


class ClioRatesBlueprint(_Document):
    """Clio's rate hierarchy: default, activity, client and matter rates."""

    kind: Literal["clio_rates"] = "clio_rates"
    source: Literal["clio"] = "clio"
    items: list[ClioRate]


# ---------------------------------------------------------------------------
# Cliniko


class ClinikoAppointmentType(_Item):
    """An appointment type with its booking settings."""

    category: Optional[str] = None
    description: Optional[str] = None
    color: Optional[str] = None
    duration_in_minutes: Optional[int] = None
    max_attendees: Optional[int] = None
    show_in_online_bookings: Optional[bool] = None
    archived: bool = False
    billable_item: Optional[Ref] = None
    product: Optional[Ref] = None
    treatment_note_template: Optional[Ref] = None


class ClinikoAppointmentTypesBlueprint(_Document):
    """Cliniko appointment types."""

    kind: Literal["cliniko_appointment_types"] = "cliniko_appointment_types"
    source: Literal["cliniko"] = "cliniko"
    items: list[ClinikoAppointmentType]


class FormQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: str
    required: Optional[bool] = None
    answers: list[str] = Field(default_factory=list, description="The choices of a checkboxes or radiobuttons question")
    default_answer: Optional[str] = None


class FormSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Optional[str] = None
    description: Optional[str] = None
    questions: list[FormQuestion] = Field(default_factory=list)


class ClinikoTemplate(_Item):
    """A treatment note template or a patient form template: sections of questions."""

    sections: list[FormSection]
    archived: bool = False
    restricted_to_practitioner: Optional[bool] = None
    print_settings: Optional[dict[str, Any]] = None


class ClinikoTreatmentNoteTemplatesBlueprint(_Document):
    """Cliniko treatment note templates."""

    kind: Literal["cliniko_treatment_note_templates"] = "cliniko_treatment_note_templates"
    source: Literal["cliniko"] = "cliniko"
    items: list[ClinikoTemplate]


class ClinikoPatientFormTemplatesBlueprint(_Document):
    """Cliniko patient form (intake) templates."""

    kind: Literal["cliniko_patient_form_templates"] = "cliniko_patient_form_templates"
    source: Literal["cliniko"] = "cliniko"
    items: list[ClinikoTemplate]


# ---------------------------------------------------------------------------
# Clientjoy


class SequenceStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: int
    delay_days: Optional[float] = None
    subject: Optional[str] = None
    body: Optional[str] = None


class ClientjoyEmailSequence(_Item):
    """An email sequence: its trigger and its steps."""

    trigger: Optional[str] = None
    steps: list[SequenceStep]


class ClientjoyEmailSequencesBlueprint(_Document):
    """Clientjoy email sequences."""

    kind: Literal["clientjoy_email_sequences"] = "clientjoy_email_sequences"
    source: Literal["clientjoy"] = "clientjoy"
    items: list[ClientjoyEmailSequence]


class ClientjoyTemplate(_Item):
    """A document or proposal template: its content and its merge fields."""

    template_type: str = Field(description="proposal, contract, document ... as exported")
    content: Optional[str] = None
    merge_fields: list[str] = Field(default_factory=list)


class ClientjoyTemplatesBlueprint(_Document):
    """Clientjoy document and proposal templates."""

    kind: Literal["clientjoy_templates"] = "clientjoy_templates"
    source: Literal["clientjoy"] = "clientjoy"
    items: list[ClientjoyTemplate]


class WebFormField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    type: Optional[str] = None
    required: bool = False
    maps_to: Optional[str] = Field(None, description="The Clientjoy field the answer fills")
    odoo_field: Optional[str] = Field(None, description="The crm.lead field a website form fills for it")


class ClientjoyWebForm(_Item):
    """A web form and the fields it asks for."""

    fields: list[WebFormField]


class ClientjoyWebFormsBlueprint(_Document):
    """Clientjoy web forms."""

    kind: Literal["clientjoy_web_forms"] = "clientjoy_web_forms"
    source: Literal["clientjoy"] = "clientjoy"
    items: list[ClientjoyWebForm]


class ClientjoyPortalSetting(_Item):
    """One client portal setting."""

    value: Optional[str] = None


class ClientjoyPortalSettingsBlueprint(_Document):
    """Clientjoy client portal settings."""

    kind: Literal["clientjoy_portal_settings"] = "clientjoy_portal_settings"
    source: Literal["clientjoy"] = "clientjoy"
    items: list[ClientjoyPortalSetting]


# ---------------------------------------------------------------------------
# Clinic CSV exports


class ClinicAppointmentType(_Item):
    """An appointment type as the appointments of the export use it."""

    appointments: int = Field(ge=0, description="Appointments of this type in the export")
    usual_duration_minutes: Optional[int] = Field(None, description="The most frequent duration")
    durations_minutes: list[int] = Field(default_factory=list, description="Every duration seen")


class ClinicAppointmentTypesBlueprint(_Document):
    """The appointment types of a clinic system's export."""

    kind: Literal["clinic_appointment_types"] = "clinic_appointment_types"
    source: Literal["clinic_csv"] = "clinic_csv"
    items: list[ClinicAppointmentType]


#: every kind, by name, with its model
KINDS: dict[str, type[_Document]] = {
    model.model_fields["kind"].default: model
    for model in (ClioTaskTemplatesBlueprint, ClioDocumentTemplatesBlueprint, ClioMatterStagesBlueprint,
                  ClioCustomActionsBlueprint, ClioWebhooksBlueprint, ClioRatesBlueprint,
                  ClinikoAppointmentTypesBlueprint, ClinikoTreatmentNoteTemplatesBlueprint,
                  ClinikoPatientFormTemplatesBlueprint, ClientjoyEmailSequencesBlueprint,
                  ClientjoyTemplatesBlueprint, ClientjoyWebFormsBlueprint, ClientjoyPortalSettingsBlueprint,
                  ClinicAppointmentTypesBlueprint)
}
#: the kinds of each source
SOURCE_KINDS: dict[str, list[str]] = {}
for _kind, _model in KINDS.items():
    SOURCE_KINDS.setdefault(_model.model_fields["source"].default, []).append(_kind)

Blueprint = _Document
