"""The configuration files a Clientjoy export may carry besides its records.

Clientjoy documents no export of its email sequences, templates, web forms or
portal settings; accounts that hand them over (copied from the app, or through
the Agency plan's API) give one CSV file each, in the shape the blueprints read
(flitstack_connectors/blueprints/files.py):

- ``email_sequences.csv``: Sequence ID, Sequence Name, Trigger, Step, Delay (days), Subject, Body
- ``templates.csv``: Template ID, Template Name, Type (proposal, contract, document), Content, Merge Fields
- ``web_forms.csv``: Form ID, Form Name, Field Label, Field Type, Required, Maps To
- ``portal_settings.csv``: Setting, Value

:func:`write_clientjoy_settings` writes them into an export folder (next to the
files of :func:`flitstack_connectors.emulators.exports.write_clientjoy_export`)
and returns what it wrote, for test expectations.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Union

SEQUENCES = (
    ("SEQ-1", "New lead nurture", "Lead created", [(0, "Thanks for reaching out, {{first_name}}",
                                                    "Hi {{first_name}}, thanks for your interest in {{company}}."),
                                                   (3, "A few ideas for {{company}}", "Here is what we did for others."),
                                                   (7, "Shall we talk?", "Book a call: {{booking_link}}")]),
    ("SEQ-2", "Proposal follow-up", "Proposal sent", [(2, "Any questions on the proposal?",
                                                       "Hi {{first_name}}, did you get a chance to read it?"),
                                                      (5, "Proposal expires soon", "It expires on {{expiry_date}}.")]),
)
TEMPLATES = (
    ("TPL-1", "Website redesign proposal", "proposal",
     "<h1>Proposal for {{client_name}}</h1><p>Scope: {{project_scope}}. Price: {{total}}.</p>",
     "client_name,project_scope,total"),
    ("TPL-2", "Monthly retainer contract", "contract",
     "<p>This agreement between {{agency_name}} and {{client_name}} starts on {{start_date}}.</p>",
     "agency_name,client_name,start_date"),
    ("TPL-3", "Project kickoff brief", "document", "<p>Kickoff for {{project_name}} with {{client_name}}.</p>", ""),
)
WEB_FORMS = (
    ("FORM-1", "Contact us", [("Full name", "text", True, "name"), ("Email", "email", True, "email"),
                              ("Company", "text", False, "company"), ("Budget", "dropdown", False, "budget"),
                              ("Message", "textarea", False, "notes")]),
    ("FORM-2", "Newsletter sign-up", [("Email", "email", True, "email")]),
)
PORTAL_SETTINGS = (
    ("custom_domain", "portal.agency.example"), ("brand_color", "#3F51B5"), ("logo_url",
                                                                            "https://agency.example/logo.png"),
    ("remove_clientjoy_branding", "true"), ("custom_css", ".header { font-family: Inter; }"),
    ("show_invoices", "true"), ("show_proposals", "true"),
)


def write_clientjoy_settings(dest: Union[str, os.PathLike]) -> dict[str, Any]:
    """Write the four configuration files into the export folder ``dest``;
    returns ``{kind: [item ids]}`` of what they hold."""
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, header: list[str], rows: list[list[Any]]) -> None:
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(header)
            out.writerows(rows)

    write("email_sequences.csv", ["Sequence ID", "Sequence Name", "Trigger", "Step", "Delay (days)", "Subject", "Body"],
          [[sid, name, trigger, k + 1, delay, subject, body]
           for sid, name, trigger, steps in SEQUENCES for k, (delay, subject, body) in enumerate(steps)])
    write("templates.csv", ["Template ID", "Template Name", "Type", "Content", "Merge Fields"],
          [list(t) for t in TEMPLATES])
    write("web_forms.csv", ["Form ID", "Form Name", "Field Label", "Field Type", "Required", "Maps To"],
          [[fid, name, label, ftype, "Yes" if required else "No", maps]
           for fid, name, fields in WEB_FORMS for label, ftype, required, maps in fields])
    write("portal_settings.csv", ["Setting", "Value"], [list(s) for s in PORTAL_SETTINGS])
    return {"clientjoy_email_sequences": [s[0] for s in SEQUENCES],
            "clientjoy_templates": [t[0] for t in TEMPLATES],
            "clientjoy_web_forms": [f[0] for f in WEB_FORMS],
            "clientjoy_portal_settings": [s[0] for s in PORTAL_SETTINGS]}
