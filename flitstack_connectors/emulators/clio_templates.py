"""What an emulated Clio account holds besides its records: templates, stages, actions, rates.

Shapes follow the schemas of Clio's public v4 API description, served through
``/api/v4/<resource>.json`` like every other list endpoint of the emulator:

- ``task_template_lists`` (TaskTemplateList: one per practice area, "<area> intake")
  and ``task_templates`` (TaskTemplate: three per list, with ``priority``,
  ``assignee``, ``task_type``, ``reminder_templates`` and, for the later steps,
  ``cascading_source`` naming the step they follow);
- ``document_templates`` (DocumentTemplate: file name, MIME type, size, category);
- ``matter_stages`` (MatterStage: four per practice area, ``order`` 0..3, the
  description's ``practice_area_id`` as a string);
- ``custom_actions`` (CustomAction: a label, a target URL, the ``ui_reference``
  page it shows on);
- ``webhooks`` (Webhook: ``model``, ``events``, ``fields``, ``status``; each has a
  ``shared_secret``, which a reader has no business asking for);
- ``activity_descriptions`` (ActivityDescription with ``rate{amount,
  non_billable_amount,type,hierarchy}``): the rate Clio would charge for the
  description, for the user of ``rate_for[user_id]`` (the API user when absent)
  on the matter of ``rate_for[matter_id]``, following Clio's rate hierarchy:
  a matter's custom rate for the user, then the client's rate for the user,
  then a flat-rate description's own rate, then the user's default rate.

The rate hierarchy's other levels sit on existing resources:

- a user's default rate: ``users.rate`` and ``activity_rates`` (clio_money);
- client rates: ActivityRate records with ``contact_id`` (``client_rates`` of
  them, on the first clients of matters), served by ``activity_rates`` after the
  users' own rates;
- matter custom rates: ``matters.custom_rate`` (MatterCustomRate: ``type``,
  ``on_invoice``, ``rates``) on every tenth matter, with a rate for its
  responsible and its originating attorney. ``rates`` is a resource nested in a
  nested resource: https://docs.developers.clio.com/api-docs/fields gives it with
  its default fields (``id``, ``etag``) and refuses a field list for it, so its
  amounts are read through ``activity_descriptions`` with ``rate_for``.
"""
from __future__ import annotations

from typing import Any, Optional

TEMPLATE_RESOURCES = ("task_template_lists", "task_templates", "document_templates", "matter_stages",
                      "custom_actions", "webhooks", "activity_descriptions")

_STEPS = (("Conflict check", "High", "Conflicts"), ("Send engagement letter", "Normal", "Correspondence"),
          ("Open file and calendar deadlines", "Normal", "Calendar"))
_TASK_TYPES = {"Conflicts": 9400001, "Correspondence": 9400002, "Calendar": 9400003}
_DOCUMENTS = (("Engagement letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "Letters", 48213),
              ("Retainer agreement.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "Agreements", 61877),
              ("Closing letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "Letters", 39002),
              ("Statement of account.pdf", "application/pdf", "Billing", 120455))
_CATEGORIES = {"Letters": 9600001, "Agreements": 9600002, "Billing": 9600003}
_STAGES = ("Intake", "Investigation", "Negotiation", "Closing")
_ACTIONS = (("File with the court e-filing portal", "https://efile.example/clio?matter={matter_id}", "matters/show"),
            ("Run a credit check", "https://credit.example/check?contact={contact_id}", "contacts/show"),
            ("Send for e-signature", "https://sign.example/new?document={document_id}", "documents/show"))
_WEBHOOKS = (("matter", ["created", "updated"], "id,display_number,status", "enabled"),
             ("contact", ["created", "updated", "deleted"], "id,name,primary_email_address", "enabled"),
             ("task", ["created"], "id,name,due_at", "suspended"))
#: (name, flat fee amount or None) of the activity descriptions
_DESCRIPTIONS = (("Court appearance", None), ("Drafting", None), ("Legal research", None),
                 ("Initial consultation (flat fee)", 350.0), ("Filing and service (flat fee)", 120.0))
#: every tenth matter (index 3, 13, 23 ...) has custom rates
MATTER_RATE_EVERY, MATTER_RATE_OFFSET = 10, 3


class ClioTemplates:
    """Task templates, document templates, stages, custom actions, webhooks and
    the rate hierarchy of a :class:`~flitstack_connectors.emulators.clio.ClioAccount`."""

    def __init__(self, account: Any, client_rates: int = 0):
        from .clio import _Collection

        self.account = account
        areas = account.practice_areas.count
        self.task_template_lists = _Collection("task_template_lists", areas, 9100001, 1)
        self.task_templates = _Collection("task_templates", areas * len(_STEPS), 9200001, 1)
        self.document_templates = _Collection("document_templates", len(_DOCUMENTS), 9300001, 1)
        self.matter_stages = _Collection("matter_stages", areas * len(_STAGES), 9500001, 1)
        self.custom_actions = _Collection("custom_actions", len(_ACTIONS), 9700001, 1)
        self.webhooks = _Collection("webhooks", len(_WEBHOOKS), 9800001, 1)
        self.activity_descriptions = _Collection("activity_descriptions", len(_DESCRIPTIONS), 9900001, 1)
        self.client_rate_count = min(client_rates, account.contacts.count)

    # -- records --------------------------------------------------------------------
    def record(self, resource: str, record_id: int) -> dict[str, Any]:
        from .clio import _etag, _iso

        col = getattr(self, resource)
        i = col.index(record_id)
        rec = getattr(self, f"_{resource}")(i)
        rec["id"] = record_id
        rec["etag"] = _etag(resource, record_id, col.revision(record_id))
        rec.setdefault("created_at", _iso(col.created_ts(i) - 600 * 86400))
        rec["updated_at"] = _iso(max(col.updated_ts(record_id) - 600 * 86400, 0))
        return rec

    def _user_ref(self, i: int) -> Optional[dict[str, Any]]:
        acc = self.account
        if not acc.users.count:
            return None
        u = acc._user(i % acc.users.count)
        return {"id": u["id"], "name": u["name"], "email": u["email"], "enabled": u["enabled"]}

    def _area(self, a: int) -> dict[str, Any]:
        pa = self.account._practice_area(a)
        return {"id": pa["id"], "name": pa["name"], "code": pa["code"], "category": pa["category"]}

    def _task_template_lists(self, i: int) -> dict[str, Any]:
        area = self._area(i)
        return {"name": f"{area['name']} intake", "description": f"First steps of a new {area['name']} matter",
                "templates_count": len(_STEPS), "practice_area": area, "creator": self._user_ref(0)}

    def _task_templates(self, i: int) -> dict[str, Any]:
        k, step = divmod(i, len(_STEPS))
        name, priority, task_type = _STEPS[step]
        lst = self._task_template_lists(k)
        previous = None
        if step:
            previous = {"id": self.task_templates.ids[i - 1], "name": _STEPS[step - 1][0]}
        reminders = []
        if priority == "High":
            reminders = [{"id": 9210001 + i, "etag": f'"r{i}"', "duration": 1440, "notification_type": "Email"},
                         {"id": 9220001 + i, "etag": f'"p{i}"', "duration": 60, "notification_type": "Popup"}]
        return {"name": name, "description": f"{name} for {lst['name']}", "priority": priority,
                "private": False, "cascading_source": previous, "assignee": self._user_ref(k + step),
                "task_template_list": {"id": self.task_template_lists.ids[k], "name": lst["name"]},
                "task_type": {"id": _TASK_TYPES[task_type], "name": task_type, "deleted_at": None},
                "template_creator": self._user_ref(0), "reminder_templates": reminders}

    def _document_templates(self, i: int) -> dict[str, Any]:
        filename, mime, category, size = _DOCUMENTS[i]
        return {"filename": filename, "content_type": mime, "size": size,
                "document_category": {"id": _CATEGORIES[category], "name": category},
                "last_modified_by": self._user_ref(i)}

    def _matter_stages(self, i: int) -> dict[str, Any]:
        a, order = divmod(i, len(_STAGES))
        return {"practice_area_id": str(self.account.practice_areas.ids[a]), "name": _STAGES[order], "order": order}

    def _custom_actions(self, i: int) -> dict[str, Any]:
        label, url, where = _ACTIONS[i]
        return {"label": label, "target_url": url, "ui_reference": where}

    def _webhooks(self, i: int) -> dict[str, Any]:
        from .clio import _T0, _iso

        model, events, fields, status = _WEBHOOKS[i]
        return {"url": f"https://hooks.firm.example/clio/{model}", "fields": fields, "model": model,
                "events": events, "status": status, "expires_at": _iso(_T0 + (5 * 365 + i) * 86400),
                "shared_secret": f"whsec-emulated-{self.account.seed}-{i}", "user": self._user_ref(0)}

    def _activity_descriptions(self, i: int) -> dict[str, Any]:
        name, flat = _DESCRIPTIONS[i]
        rec = {"name": name, "visible_to_co_counsel": i % 2 == 0, "default": i == 0, "type": "clio",
               "utbms_activity_id": None, "utbms_task_name": None, "utbms_task_id": None,
               "xero_service_code": None, "accessible_to_user": True,
               "category_type": "flat_fee" if flat is not None else "hourly",
               "currency": {"id": 1, "code": "USD", "sign": "$"}, "groups": [], "utbms_task": None,
               "utbms_activity": None}
        rec["rate"] = self.rate(i, None, None)
        return rec

    # -- the rate hierarchy -------------------------------------------------------------
    def matter_has_rates(self, mi: int) -> bool:
        return mi % MATTER_RATE_EVERY == MATTER_RATE_OFFSET

    def matter_custom_rate(self, mi: int, matter: dict[str, Any]) -> dict[str, Any]:
        """``custom_rate`` of matter ``mi`` (built from its other fields)."""
        kind = {"flat": "FlatRate", "contingency": "ContingencyFee"}.get(matter.get("billing_method"), "HourlyRate")
        rates = []
        if self.matter_has_rates(mi):
            seen: list[int] = []
            for role in ("responsible_attorney", "originating_attorney"):
                person = matter.get(role)
                if not person or person["id"] in seen:
                    continue
                seen.append(person["id"])
                rates.append(self._matter_rate(mi, len(rates), kind, person))
        return {"type": kind, "on_invoice": kind != "HourlyRate", "rates": rates}

    def _matter_rate(self, mi: int, k: int, kind: str, person: dict[str, Any]) -> dict[str, Any]:
        from .clio import _etag

        user = self.account.record("users", person["id"])
        amount = {"HourlyRate": round(user["rate"] * 0.9, 2), "FlatRate": 1500.0 + 250 * k,
                  "ContingencyFee": 33.0}[kind]
        rid = 9990000 + mi * 10 + k
        return {"id": rid, "etag": _etag("custom_rate", rid, 0), "rate": amount,
                "award": None, "note": None, "date": None,
                "user": {"id": user["id"], "name": user["name"], "enabled": user["enabled"]},
                "group": None, "activity_description": None}

    def client_rate(self, c: int) -> dict[str, Any]:
        """ActivityRate ``c`` of the client rates: the client of matter ``c``'s
        responsible attorney rate, for that attorney, at a discount."""
        from .clio import _iso

        acc = self.account
        matter = acc.record("matters", acc.matters.ids[c % acc.matters.count]) if acc.matters.count else {}
        client, person = matter.get("client"), matter.get("responsible_attorney")
        user = acc.record("users", person["id"]) if person else None
        return {"rate": round((user["rate"] if user else 200.0) * 0.8, 2), "flat_rate": False,
                "contact_id": client["id"] if client else None, "co_counsel_contact_id": None,
                "created_at": _iso(acc.contacts.created_ts(0)),
                "user": {"id": user["id"], "name": user["name"], "email": user["email"]} if user else None,
                "group": None}

    def hourly_rate(self, matter: dict[str, Any], user: Optional[dict[str, Any]]) -> float:
        """The hourly rate Clio puts on a new time entry of ``user`` on ``matter``
        when no activity category and no custom rate is given: the matter's custom
        rate for the user, else the client's rate for the user, else the user's
        default rate (https://help.clio.com/hc/en-us/articles/9289801180187,
        "Rates and Rate Hierarchies": matter-based over client-based over the
        user default rate)."""
        if user is None:
            return 200.0
        custom = matter.get("custom_rate") or {}
        if custom.get("type") == "HourlyRate":
            for rate in custom.get("rates") or []:
                if rate["user"]["id"] == user["id"]:
                    return float(rate["rate"])
        client = matter.get("client")
        if client and self.client_rate_count:
            if not hasattr(self, "_client_rates"):
                self._client_rates = {}
                for c in range(self.client_rate_count):
                    r = self.client_rate(c)
                    if r["contact_id"] and r["user"]:
                        self._client_rates.setdefault((r["contact_id"], r["user"]["id"]), float(r["rate"]))
            found = self._client_rates.get((client["id"], user["id"]))
            if found is not None:
                return found
        return float(user["rate"])

    def rate(self, d: int, matter_id: Optional[int], user_id: Optional[int]) -> dict[str, Any]:
        """The rate of description ``d`` for the user on the matter, and the level of
        the hierarchy it comes from."""
        acc = self.account
        user = acc.record("users", user_id if user_id is not None else acc.users.ids[0])
        _name, flat = _DESCRIPTIONS[d]
        if matter_id is not None:
            matter = acc.record("matters", matter_id)
            for rate in matter["custom_rate"]["rates"]:
                if rate["user"]["id"] == user["id"]:
                    return {"amount": rate["rate"], "non_billable_amount": 0.0, "type": "Custom",
                            "hierarchy": "Matter"}
            client = matter.get("client")
            for c in range(self.client_rate_count):
                rate = self.client_rate(c)
                if client and rate["contact_id"] == client["id"] and rate["user"] and rate["user"]["id"] == user["id"]:
                    return {"amount": rate["rate"], "non_billable_amount": 0.0, "type": "User",
                            "hierarchy": "Client"}
        if flat is not None:
            return {"amount": flat, "non_billable_amount": 0.0, "type": "FlatRate", "hierarchy": "Activity"}
        return {"amount": float(user["rate"]), "non_billable_amount": 0.0, "type": "User", "hierarchy": "Default"}

    def rated(self, rec: dict[str, Any], matter_id: Optional[str], user_id: Optional[str]) -> dict[str, Any]:
        """``rec`` (an activity description) with its rate for ``rate_for[...]``."""
        if matter_id is None and user_id is None:
            return rec
        try:
            mid = int(matter_id) if matter_id is not None else None
            uid = int(user_id) if user_id is not None else None
        except ValueError:
            return rec
        if mid is not None and acc_index(self.account.matters, mid) is None:
            return rec
        if uid is not None and acc_index(self.account.users, uid) is None:
            return rec
        d = self.activity_descriptions.index(rec["id"])
        return {**rec, "rate": self.rate(d, mid, uid)}


def acc_index(col: Any, record_id: int) -> Optional[int]:
    """The index of ``record_id`` in ``col``, or None when it has no such record."""
    i = col.index(record_id)
    return i if 0 <= i < col.count and col.ids[i] == record_id else None
