"""Clio's blueprints: task templates, document templates, matter stages, custom
actions, webhooks and the rate hierarchy, read through the v4 API.

Every list is read with the Clio source's client (its limiter, retries and token
renewal) with an explicit field list, cursor paging where the endpoint takes
``order`` (https://docs.developers.clio.com/api-docs/paging) and no field list
for a resource nested in a nested one (https://docs.developers.clio.com/api-docs/fields).

The rate hierarchy comes from four places:

1. Default: each user's rate, ``activity_rates`` without a ``contact_id``;
2. Activity: activity descriptions whose ``rate.hierarchy`` is ``Activity`` (flat fees);
3. Client: ``activity_rates`` with a ``contact_id``;
4. Matter: ``matters.custom_rate{type,on_invoice,rates}``. ``rates`` is nested
   in a nested resource, so Clio gives each rate with its default fields only
   (id, etag): no amount and no user. The amounts are read, per matter with
   custom rates and for its responsible and originating attorneys, from
   ``activity_descriptions`` with ``rate_for[matter_id]`` and
   ``rate_for[user_id]``, which answers the rate Clio would charge and the level
   it comes from. Rates of other users or groups stay listed by id and counted
   in the document's notes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from .models import (
    ClioCustomAction, ClioCustomActionsBlueprint, ClioDocumentTemplate, ClioDocumentTemplatesBlueprint,
    ClioMatterStage, ClioMatterStagesBlueprint, ClioRate, ClioRatesBlueprint, ClioStagePipeline, ClioTaskTemplate,
    ClioTaskTemplateList, ClioTaskTemplatesBlueprint, ClioWebhook, ClioWebhooksBlueprint, Rebuild, Ref,
)

#: the field list of each list endpoint read for the blueprints (checked against
#: Clio's API description by tests/test_blueprints_clio.py)
FIELDS = {
    "task_template_lists": "id,etag,name,description,templates_count,created_at,updated_at,practice_area{id,name}",
    "task_templates": ("id,etag,name,description,priority,private,created_at,updated_at,cascading_source{id,name},"
                       "assignee{id,name},task_template_list{id,name},task_type{id,name},"
                       "reminder_templates{id,duration,notification_type}"),
    "document_templates": ("id,etag,filename,content_type,size,created_at,updated_at,document_category{id,name},"
                           "last_modified_by{id,name}"),
    "matter_stages": "id,etag,name,order,practice_area_id,created_at,updated_at",
    "custom_actions": "id,etag,label,target_url,ui_reference,created_at,updated_at",
    # never shared_secret: the blueprint names where a webhook posts, not how it signs
    "webhooks": "id,etag,url,fields,model,status,events,expires_at,created_at,updated_at",
    "activity_descriptions": "id,etag,name,type,category_type,default,created_at,updated_at,currency,"
                             "rate{amount,non_billable_amount,type,hierarchy}",
    "practice_areas": "id,etag,name,code",
    "users": "id,etag,name,enabled,rate",
    "activity_rates": "id,etag,rate,flat_rate,contact_id,co_counsel_contact_id,user{id,name},group{id,name}",
    "matters": ("id,etag,display_number,billing_method,client{id,name},responsible_attorney{id,name},"
                "originating_attorney{id,name},custom_rate{type,on_invoice,rates}"),
}
#: what the blueprints need of the objects a migration run reads anyway (with the
#: source's own field lists, which hold these): a run keeps it as it reads them
#: (:func:`run_extract`) and the blueprints are built from that, not read again
FROM_RUN = {
    "practice_areas": ("id", "etag", "name", "code"),
    "matters": ("id", "etag", "display_number", "billing_method", "client", "responsible_attorney",
                "originating_attorney", "custom_rate"),
}
#: a source of records per resource, each a callable giving them in Clio's order
Staged = Mapping[str, Callable[[], Iterable[dict[str, Any]]]]
#: the matter-level rate of (matter id, user id) looked up before (:func:`matter_rate`), or None
MatterRates = Callable[[Any, str], Optional[dict[str, Any]]]

#: endpoints whose description has no ``order`` parameter (cursor-paged by id as they are)
NO_ORDER = frozenset({"matter_stages", "custom_actions", "activity_descriptions", "activity_rates"})
#: the fields asked when reading a matter's rates through activity descriptions
RATE_FOR_FIELDS = "id,name,rate{amount,non_billable_amount,type,hierarchy}"

#: Clio page of a custom action -> the Odoo model whose form gets the action
_UI_MODELS = {"matters/show": "crm.lead", "contacts/show": "res.partner", "documents/show": "ir.attachment",
              "folders/show": "ir.attachment", "activities/show": "account.analytic.line"}
#: Clio webhook model -> the Odoo model whose changes would call it
_WEBHOOK_MODELS = {"matter": "crm.lead", "contact": "res.partner", "task": "mail.activity",
                   "calendar_entry": "calendar.event", "bill": "account.move", "activity": "account.analytic.line",
                   "document": "ir.attachment", "folder": "ir.attachment", "communication": "mail.message",
                   "clio_payments_payment": "account.payment"}
_WEBHOOK_TRIGGERS = {"created": "On creation", "updated": "On update", "deleted": "On deletion"}


def list_params(resource: str, page_size: int = 200) -> dict[str, Any]:
    params: dict[str, Any] = {"fields": FIELDS[resource], "limit": page_size}
    if resource not in NO_ORDER:
        params["order"] = "id(asc)"
    return params


def _items(source: Any, resource: str, extra: Optional[dict[str, Any]] = None,
           fields: Optional[str] = None) -> Iterator[dict[str, Any]]:
    staged = getattr(source, "staged", None) or {}
    if resource in staged and not extra and not fields:
        yield from staged[resource]()
        return
    params = {**list_params(resource, source.page_size), **(extra or {})}
    if fields:
        params["fields"] = fields
    for page in source._paginator.pages(source.http, f"{resource}.json", params):
        yield from page.get("data") or []


def run_extract(object_name: str, record: dict[str, Any]) -> Optional[dict[str, Any]]:
    """What the blueprints need of ``record``, read by a run from ``object_name``, or
    None when they need nothing of it (an object they do not read; a matter without
    custom rates, which makes no blueprint item). References keep their id and name."""
    keys = FROM_RUN.get(object_name)
    if keys is None:
        return None
    if object_name == "matters" and not [r for r in (record.get("custom_rate") or {}).get("rates") or []
                                         if isinstance(r, dict)]:
        return None
    kept = {}
    for key in keys:
        value = record.get(key)
        if key != "custom_rate" and isinstance(value, dict):
            value = {k: value.get(k) for k in ("id", "name")}
        kept[key] = value
    return kept


def _ref(value: Any) -> Optional[Ref]:
    if not isinstance(value, dict) or value.get("id") is None:
        return None
    return Ref(id=str(value["id"]), name=value.get("name"))


def read(source: Any, now: datetime, staged: Optional[Staged] = None,
         matter_rates: Optional[MatterRates] = None) -> list:
    """The six Clio blueprint documents of ``source`` (a ClioSource).

    ``staged`` gives, per resource of :data:`FROM_RUN`, the records a run read
    (as :func:`run_extract` kept them): those resources are not read again.
    ``matter_rates`` gives the rates of matters looked up before, in steps
    (:func:`rate_lookups`, :func:`matter_rate`): they are not asked for again."""
    if staged or matter_rates:
        source = _StagedReads(source, staged or {}, matter_rates)
    areas = {str(a["id"]): a for a in _items(source, "practice_areas")}
    return [_task_templates(source, now), _document_templates(source, now), _matter_stages(source, now, areas),
            _custom_actions(source, now), _webhooks(source, now), _rates(source, now)]


class _StagedReads:
    """A ClioSource whose lists of ``staged`` resources come from a run's reads."""

    def __init__(self, source: Any, staged: Staged, matter_rates: Optional[MatterRates] = None):
        self._source, self.staged, self.matter_rates = source, staged, matter_rates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def _task_templates(source: Any, now: datetime) -> ClioTaskTemplatesBlueprint:
    tasks: dict[str, list[dict[str, Any]]] = {}
    for t in _items(source, "task_templates"):
        tasks.setdefault(str((t.get("task_template_list") or {}).get("id")), []).append(t)
    items = []
    for lst in _items(source, "task_template_lists"):
        lid = str(lst["id"])
        steps = [ClioTaskTemplate(
            source_id=str(t["id"]), name=t.get("name") or "", description=t.get("description"),
            priority=t.get("priority"), private=t.get("private"), assignee=_ref(t.get("assignee")),
            task_type=_ref(t.get("task_type")), follows=_ref(t.get("cascading_source")),
            reminders=[{"duration_minutes": r.get("duration"), "notification_type": r.get("notification_type")}
                       for r in t.get("reminder_templates") or []],
        ) for t in tasks.get(lid, [])]
        area = _ref(lst.get("practice_area"))
        trigger = (f"the matter's practice area is {area.name} (tag {area.name!r} on the lead)" if area and area.name
                   else "a new matter (lead) is created")
        rebuild = Rebuild(
            odoo_model="base.automation",
            feature="CRM > Configuration > Automation Rules (Settings > Technical > Automation Rules)",
            steps=[f"Create an automation rule on Lead/Opportunity (crm.lead), trigger On creation, "
                   f"applied when {trigger}."]
            + [f"Add the action 'Create Activity' (ir.actions.server, type next_activity): summary {s.name!r}, "
               f"activity type {s.task_type.name if s.task_type else 'To-Do'}"
               + (f", assigned to {s.assignee.name}" if s.assignee and s.assignee.name else "")
               + (f"; after {s.follows.name!r} is done (chain it as that activity type's next activity)"
                  if s.follows else "") + "."
               for s in steps])
        items.append(ClioTaskTemplateList(source_id=lid, name=lst.get("name") or "", description=lst.get("description"),
                                          practice_area=area, tasks=steps, rebuild=rebuild))
    return ClioTaskTemplatesBlueprint(
        title="Clio task template lists", generated_at=now, item_count=len(items), items=items,
        notes=["Clio's API gives task templates without their due-date rules: set the activity's due date "
               "(days after the trigger) by hand."])


def _document_templates(source: Any, now: datetime) -> ClioDocumentTemplatesBlueprint:
    items = []
    for d in _items(source, "document_templates"):
        name = d.get("filename") or f"Template {d['id']}"
        items.append(ClioDocumentTemplate(
            source_id=str(d["id"]), name=name, filename=name, content_type=d.get("content_type"), size=d.get("size"),
            category=_ref(d.get("document_category")),
            rebuild=Rebuild(odoo_model="ir.ui.view", feature="Settings > Technical > Reports (QWeb report on the "
                                                             "partner or the lead)",
                            steps=[f"Download {name!r} from Clio (Documents > Templates).",
                                   "Create a QWeb report (ir.actions.report with its ir.ui.view) on crm.lead or "
                                   "res.partner and rewrite Clio's merge fields as t-field expressions "
                                   "(<<Matter.Client.Name>> -> object.partner_id.name)."])))
    return ClioDocumentTemplatesBlueprint(
        title="Clio document templates", generated_at=now, item_count=len(items), items=items,
        notes=["The files themselves are not part of the blueprint: download each from Clio."])


def _matter_stages(source: Any, now: datetime, areas: dict[str, dict[str, Any]]) -> ClioMatterStagesBlueprint:
    per_area: dict[str, list[dict[str, Any]]] = {}
    for s in _items(source, "matter_stages"):
        per_area.setdefault(str(s.get("practice_area_id")), []).append(s)
    items = []
    for area_id, stages in per_area.items():
        area = areas.get(area_id, {})
        name = area.get("name") or f"Practice area {area_id}"
        ordered = sorted(stages, key=lambda s: (s.get("order") is None, s.get("order"), s["id"]))
        items.append(ClioStagePipeline(
            source_id=area_id, name=name, practice_area=Ref(id=area_id, name=area.get("name")),
            stages=[ClioMatterStage(source_id=str(s["id"]), name=s.get("name") or "", order=s.get("order"))
                    for s in ordered],
            rebuild=Rebuild(odoo_model="crm.stage", feature="CRM > Configuration > Sales Teams and Stages",
                            steps=[f"Create the sales team {name!r} (crm.team) for the {name} matters."]
                            + [f"Create the stage {s.get('name')!r} (crm.stage), sequence {s.get('order')}, "
                               f"limited to the team {name!r}." for s in ordered])))
    return ClioMatterStagesBlueprint(title="Clio matter stages", generated_at=now, item_count=len(items), items=items)


def _custom_actions(source: Any, now: datetime) -> ClioCustomActionsBlueprint:
    items = []
    for a in _items(source, "custom_actions"):
        model = _UI_MODELS.get(a.get("ui_reference") or "", "crm.lead")
        items.append(ClioCustomAction(
            source_id=str(a["id"]), name=a.get("label") or "", target_url=a.get("target_url") or "",
            ui_reference=a.get("ui_reference"),
            rebuild=Rebuild(odoo_model="ir.actions.server", feature="Settings > Technical > Server Actions",
                            steps=[f"Create a server action on {model}, type 'Execute Code', that returns an "
                                   f"ir.actions.act_url opening {a.get('target_url')!r} (Clio's {{...}} "
                                   f"placeholders become the record's fields).",
                                   "Press 'Create Contextual Action' so it shows in the record's Actions menu."])))
    return ClioCustomActionsBlueprint(title="Clio custom actions", generated_at=now, item_count=len(items), items=items)


def _webhooks(source: Any, now: datetime) -> ClioWebhooksBlueprint:
    items = []
    for w in _items(source, "webhooks"):
        model = _WEBHOOK_MODELS.get(w.get("model") or "", "crm.lead")
        events = [str(e) for e in w.get("events") or []]
        triggers = ", ".join(_WEBHOOK_TRIGGERS.get(e, e) for e in events) or "On creation and update"
        items.append(ClioWebhook(
            source_id=str(w["id"]), name=f"{w.get('model')} webhook to {w.get('url')}", url=w.get("url") or "",
            model=w.get("model"), events=events, fields=w.get("fields"), status=w.get("status"),
            expires_at=w.get("expires_at"),
            rebuild=Rebuild(odoo_model="base.automation", feature="Settings > Technical > Automation Rules",
                            steps=[f"Create an automation rule on {model}, trigger {triggers}.",
                                   f"Add the action 'Send Webhook Notification' (ir.actions.server, type webhook) "
                                   f"to {w.get('url')!r} with the fields that match Clio's {w.get('fields')!r}.",
                                   "Give the receiving service a new secret: Clio's shared secret does not move."])))
    return ClioWebhooksBlueprint(title="Clio webhooks", generated_at=now, item_count=len(items), items=items,
                                 notes=["Shared secrets are not read."])


def _pricelist(level: str, who: str, amount: Optional[float], what: str) -> Rebuild:
    price = "the amount Clio gives" if amount is None else f"{amount:.2f}"
    steps = {
        "Default": [f"Create a service product {what!r} (product.template, type Service, unit Hours) with sales "
                    f"price {price}, or add a product.pricelist.item to the default pricelist for it."],
        "Activity": [f"Create a service product {what!r} (product.template, type Service) with sales price {price} "
                     f"(a flat fee per entry)."],
        "Client": [f"Create the pricelist '{who} rates' (product.pricelist) with a fixed price of {price} for the "
                   f"product {what!r} (product.pricelist.item).",
                   f"Set it as the pricelist of the partner {who!r} (Sales & Purchase tab)."],
        "Matter": [f"Create the pricelist '{who} rates' (product.pricelist) with a fixed price of {price} for the "
                   f"product {what!r} (product.pricelist.item).",
                   f"Use it on the quotations and orders of the matter {who!r}."],
    }[level]
    return Rebuild(odoo_model="product.pricelist", feature="Sales > Configuration > Pricelists "
                                                           "(Settings > Sales > Pricelists on)", steps=steps)


def _rates(source: Any, now: datetime) -> ClioRatesBlueprint:
    items: list[ClioRate] = []
    notes: list[str] = []
    users = {str(u["id"]): u for u in _items(source, "users")}
    for r in _items(source, "activity_rates"):
        user = _ref(r.get("user")) or _ref(r.get("group"))
        who = user.name if user and user.name else "the firm"
        if r.get("contact_id") is None:
            items.append(ClioRate(
                source_id=f"activity_rate:{r['id']}", name=f"Default rate of {who}", level="Default",
                amount=r.get("rate"), rate_type="FlatRate" if r.get("flat_rate") else "HourlyRate", user=user,
                rebuild=_pricelist("Default", who, r.get("rate"), f"Time of {who}")))
        else:
            client = Ref(id=str(r["contact_id"]))
            items.append(ClioRate(
                source_id=f"activity_rate:{r['id']}", name=f"Client rate of {who} for contact {r['contact_id']}",
                level="Client", amount=r.get("rate"), rate_type="FlatRate" if r.get("flat_rate") else "HourlyRate",
                user=user, client=client,
                rebuild=_pricelist("Client", f"contact {r['contact_id']}", r.get("rate"), f"Time of {who}")))
    for d in _items(source, "activity_descriptions"):
        rate = d.get("rate") or {}
        if rate.get("hierarchy") != "Activity":
            continue
        name = d.get("name") or f"Activity {d['id']}"
        items.append(ClioRate(
            source_id=f"activity_description:{d['id']}", name=name, level="Activity", amount=rate.get("amount"),
            rate_type="FlatRate" if rate.get("type") == "FlatRate" else "HourlyRate",
            activity_description=Ref(id=str(d["id"]), name=name),
            rebuild=_pricelist("Activity", name, rate.get("amount"), name)))
    unresolved = 0
    for m in _items(source, "matters"):
        custom = m.get("custom_rate") or {}
        listed = [r for r in custom.get("rates") or [] if isinstance(r, dict)]
        if not listed:
            continue
        matter = Ref(id=str(m["id"]), name=m.get("display_number"))
        client = _ref(m.get("client"))
        people = _attorneys(m)
        looked_up = getattr(source, "matter_rates", None)
        found = 0
        for person in people:
            rate = looked_up(m["id"], person.id) if looked_up else matter_rate(source, m["id"], person.id)
            if rate is None:
                continue
            found += 1
            name = users.get(person.id, {}).get("name") or person.name
            items.append(ClioRate(
                source_id=f"matter:{m['id']}:user:{person.id}", name=f"Matter rate of {name} on {matter.name}",
                level="Matter", amount=rate.get("amount"), rate_type=custom.get("type") or "HourlyRate",
                user=Ref(id=person.id, name=name), client=client, matter=matter, on_invoice=custom.get("on_invoice"),
                rebuild=_pricelist("Matter", matter.name or matter.id, rate.get("amount"), f"Time of {name}")))
        if len(listed) > found:
            unresolved += len(listed) - found
            for r in listed[found:]:
                items.append(ClioRate(
                    source_id=f"matter_rate:{r.get('id')}", name=f"Custom rate {r.get('id')} on {matter.name}",
                    level="Matter", amount=None, rate_type=custom.get("type") or "HourlyRate", client=client,
                    matter=matter, on_invoice=custom.get("on_invoice"),
                    rebuild=_pricelist("Matter", matter.name or matter.id, None, "the rate's user or group")))
    notes.append("Clio gives a matter's custom rates (custom_rate.rates, nested in a nested resource) with their "
                 "default fields only (id, etag); the amounts were read per matter for its responsible and "
                 "originating attorneys through activity_descriptions with rate_for.")
    if unresolved:
        notes.append(f"{unresolved} matter custom rates belong to other users or groups: they are listed by id "
                     f"without an amount; read them in Clio (the matter's Billing tab).")
    return ClioRatesBlueprint(title="Clio rate hierarchy", generated_at=now, item_count=len(items), items=items,
                              notes=notes)


def _attorneys(matter: dict[str, Any]) -> list[Ref]:
    people: list[Ref] = []
    for role in ("responsible_attorney", "originating_attorney"):
        person = _ref(matter.get(role))
        if person and person.id not in [p.id for p in people]:
            people.append(person)
    return people


def rate_lookups(matter: dict[str, Any]) -> list[str]:
    """The user ids whose rate on ``matter`` the rate blueprint looks up (its
    attorneys), none when the matter has no custom rates."""
    if not [r for r in (matter.get("custom_rate") or {}).get("rates") or [] if isinstance(r, dict)]:
        return []
    return [p.id for p in _attorneys(matter)]


def matter_rate(source: Any, matter_id: Any, user_id: str) -> Optional[dict[str, Any]]:
    """The matter-level rate Clio charges ``user_id`` on the matter, or None."""
    extra = {"rate_for[matter_id]": matter_id, "rate_for[user_id]": user_id, "limit": 200}
    for d in _items(source, "activity_descriptions", extra, fields=RATE_FOR_FIELDS):
        rate = d.get("rate") or {}
        if rate.get("hierarchy") == "Matter":
            return rate
    return None
