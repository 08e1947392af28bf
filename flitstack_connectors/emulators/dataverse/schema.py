"""Table definitions of the emulated Dataverse: columns, types, lookups, states.

Column types and lengths follow the Web API EntityType reference pages
(https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account
and the sibling pages for contact, opportunity, incident, invoice,
invoicedetail, task, appointment, annotation and systemuser); only a
realistic subset of each table's columns is modelled.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

# Attribute types as AttributeMetadata.AttributeType names them
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/entity-attribute-metadata
STRING, MEMO, INTEGER, BIGINT, DECIMAL, MONEY, DOUBLE = "String", "Memo", "Integer", "BigInt", "Decimal", "Money", "Double"
DATETIME, BOOLEAN, PICKLIST, STATE, STATUS = "DateTime", "Boolean", "Picklist", "State", "Status"
LOOKUP, OWNER, CUSTOMER, UNIQUEID = "Lookup", "Owner", "Customer", "Uniqueidentifier"

#: the metadata types a client may POST to EntityDefinitions(...)/Attributes
METADATA_TYPES = {
    "Microsoft.Dynamics.CRM.StringAttributeMetadata": STRING,
    "Microsoft.Dynamics.CRM.MemoAttributeMetadata": MEMO,
    "Microsoft.Dynamics.CRM.IntegerAttributeMetadata": INTEGER,
    "Microsoft.Dynamics.CRM.BigIntAttributeMetadata": BIGINT,
    "Microsoft.Dynamics.CRM.DecimalAttributeMetadata": DECIMAL,
    "Microsoft.Dynamics.CRM.MoneyAttributeMetadata": MONEY,
    "Microsoft.Dynamics.CRM.DoubleAttributeMetadata": DOUBLE,
    "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata": DATETIME,
    "Microsoft.Dynamics.CRM.BooleanAttributeMetadata": BOOLEAN,
    "Microsoft.Dynamics.CRM.PicklistAttributeMetadata": PICKLIST,
}
METADATA_TYPE_OF = {v: k for k, v in METADATA_TYPES.items()}
METADATA_TYPE_OF.update({
    STATE: "Microsoft.Dynamics.CRM.StateAttributeMetadata", STATUS: "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
    LOOKUP: "Microsoft.Dynamics.CRM.LookupAttributeMetadata", OWNER: "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
    CUSTOMER: "Microsoft.Dynamics.CRM.LookupAttributeMetadata", UNIQUEID: "Microsoft.Dynamics.CRM.AttributeMetadata",
})

#: Edm types named in OData conversion errors
EDM = {STRING: "Edm.String", MEMO: "Edm.String", INTEGER: "Edm.Int32", BIGINT: "Edm.Int64", DECIMAL: "Edm.Decimal",
       MONEY: "Edm.Decimal", DOUBLE: "Edm.Double", DATETIME: "Edm.DateTimeOffset", BOOLEAN: "Edm.Boolean",
       PICKLIST: "Edm.Int32", STATE: "Edm.Int32", STATUS: "Edm.Int32", UNIQUEID: "Edm.Guid"}


@dataclass
class Column:
    logical: str
    type: str
    max_length: Optional[int] = None
    options: Optional[dict[int, str]] = None      # picklist value -> label
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    targets: tuple[str, ...] = ()                  # lookups: referenced tables
    valid_for_create: bool = True
    valid_for_update: bool = True
    date_only: bool = False
    schema_name: Optional[str] = None
    custom: bool = False
    required: str = "None"                         # RequiredLevel: None, ApplicationRequired, SystemRequired
    metadata_id: Optional[str] = None
    display_name: Optional[str] = None

    @property
    def is_lookup(self) -> bool:
        return self.type in (LOOKUP, OWNER, CUSTOMER)

    @property
    def value_name(self) -> str:
        """The read-only property a lookup is returned as: ``_<name>_value``."""
        return f"_{self.logical}_value"


@dataclass
class NavProperty:
    """A single-valued navigation property: ``<name>@odata.bind`` sets ``column`` to a ``target`` row.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-navigation-properties"""
    name: str
    column: str
    target: str


@dataclass
class Table:
    logical: str
    entity_set: str
    primary_id: str
    primary_name: Optional[str]
    columns: dict[str, Column] = field(default_factory=dict)
    navs: dict[str, NavProperty] = field(default_factory=dict)
    # statecode -> (label, {statuscode: label}, default statuscode)
    states: dict[int, tuple[str, dict[int, str], int]] = field(default_factory=dict)
    custom: bool = False
    schema_name: Optional[str] = None
    ownership: str = "UserOwned"
    metadata_id: Optional[str] = None
    display_name: Optional[str] = None
    display_collection_name: Optional[str] = None
    read_only: bool = False
    #: columns a create must carry (SystemRequired), with the message Dataverse gives
    system_required: dict[str, str] = field(default_factory=dict)

    def add(self, col: Column) -> Column:
        self.columns[col.logical] = col
        return col

    def nav(self, name: str, column: str, target: str) -> None:
        self.navs[name] = NavProperty(name, column, target)

    def status_options(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for _label, statuses, _default in self.states.values():
            out.update(statuses)
        return out


def _addr(t: Table) -> None:
    for name, n in (("address1_line1", 250), ("address1_line2", 250), ("address1_line3", 250),
                    ("address1_city", 80), ("address1_stateorprovince", 50), ("address1_postalcode", 20),
                    ("address1_country", 80), ("address1_telephone1", 50)):
        t.add(Column(name, STRING, n))
    t.add(Column("address1_latitude", DOUBLE, min_value=-90, max_value=90))
    t.add(Column("address1_longitude", DOUBLE, min_value=-180, max_value=180))


def _common(t: Table, owned: bool = True) -> None:
    t.add(Column(t.primary_id, UNIQUEID, valid_for_update=False))
    t.add(Column("createdon", DATETIME, valid_for_create=False, valid_for_update=False))
    t.add(Column("modifiedon", DATETIME, valid_for_create=False, valid_for_update=False))
    # overriddencreatedon: "Date and time that the record was migrated"; it sets createdon
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account#BKMK_OverriddenCreatedOn
    t.add(Column("overriddencreatedon", DATETIME, valid_for_update=False))
    t.add(Column("versionnumber", BIGINT, valid_for_create=False, valid_for_update=False))
    if owned:
        t.add(Column("ownerid", OWNER, targets=("systemuser",)))
        t.nav("ownerid", "ownerid", "systemuser")
    if t.states:
        t.add(Column("statecode", STATE, options={k: v[0] for k, v in t.states.items()}))
        t.add(Column("statuscode", STATUS, options=t.status_options()))


def _lookup(t: Table, column: str, targets: dict[str, str], kind: str = LOOKUP) -> None:
    """``targets`` maps navigation property name -> referenced table."""
    t.add(Column(column, kind, targets=tuple(targets.values())))
    for nav, target in targets.items():
        t.nav(nav, column, target)


ACTIVE_INACTIVE = {0: ("Active", {1: "Active"}, 1), 1: ("Inactive", {2: "Inactive"}, 2)}


def standard_tables() -> dict[str, Table]:
    tables: dict[str, Table] = {}

    # -- systemuser: read-only here; users come from the emulator settings
    su = Table("systemuser", "systemusers", "systemuserid", "fullname", read_only=True)
    for name, n in (("fullname", 200), ("firstname", 64), ("lastname", 64), ("internalemailaddress", 100),
                    ("domainname", 1024), ("applicationid", None)):
        su.add(Column(name, STRING if n else UNIQUEID, n))
    su.add(Column("isdisabled", BOOLEAN))
    su.add(Column("accessmode", PICKLIST, options={0: "Read-Write", 1: "Administrative", 2: "Read", 3: "Support User",
                                                   4: "Non-interactive", 5: "Delegated Admin"}))
    _common(su, owned=False)
    tables["systemuser"] = su

    # -- account  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account
    a = Table("account", "accounts", "accountid", "name", states=dict(ACTIVE_INACTIVE))
    for name, n in (("name", 160), ("accountnumber", 20), ("telephone1", 50), ("telephone2", 50), ("fax", 50),
                    ("emailaddress1", 100), ("emailaddress2", 100), ("websiteurl", 200), ("tickersymbol", 10)):
        a.add(Column(name, STRING, n))
    _addr(a)
    a.add(Column("description", MEMO, 2000))
    a.add(Column("revenue", MONEY, min_value=0, max_value=100000000000000))
    a.add(Column("numberofemployees", INTEGER, min_value=0, max_value=1000000000))
    a.add(Column("creditonhold", BOOLEAN))
    a.add(Column("accountcategorycode", PICKLIST, options={1: "Preferred Customer", 2: "Standard"}))
    a.add(Column("customertypecode", PICKLIST, options={1: "Competitor", 2: "Consultant", 3: "Customer", 4: "Investor",
                                                        5: "Partner", 6: "Influencer", 7: "Press", 8: "Prospect",
                                                        9: "Reseller", 10: "Supplier", 11: "Vendor", 12: "Other"}))
    a.add(Column("industrycode", PICKLIST, options={i: f"Industry {i}" for i in range(1, 34)}))
    _lookup(a, "primarycontactid", {"primarycontactid": "contact"})
    _lookup(a, "parentaccountid", {"parentaccountid": "account"})
    _common(a)
    tables["account"] = a

    # -- contact  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/contact
    c = Table("contact", "contacts", "contactid", "fullname", states=dict(ACTIVE_INACTIVE))
    for name, n in (("firstname", 50), ("lastname", 50), ("middlename", 50), ("jobtitle", 100),
                    ("emailaddress1", 100), ("emailaddress2", 100), ("telephone1", 50), ("telephone2", 50),
                    ("mobilephone", 50), ("salutation", 100)):
        c.add(Column(name, STRING, n))
    c.add(Column("fullname", STRING, 160, valid_for_create=False, valid_for_update=False))
    _addr(c)
    c.add(Column("description", MEMO, 2000))
    c.add(Column("birthdate", DATETIME, date_only=True))
    c.add(Column("gendercode", PICKLIST, options={1: "Male", 2: "Female"}))
    # parentcustomerid is a customer lookup: one navigation property per table
    # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
    _lookup(c, "parentcustomerid", {"parentcustomerid_account": "account", "parentcustomerid_contact": "contact"},
            CUSTOMER)
    _common(c)
    tables["contact"] = c

    # -- opportunity  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/opportunity
    o = Table("opportunity", "opportunities", "opportunityid", "name", states={
        0: ("Open", {1: "In Progress", 2: "On Hold"}, 1),
        1: ("Won", {3: "Won"}, 3),
        2: ("Lost", {4: "Canceled", 5: "Out-Sold"}, 4),
    })
    o.add(Column("name", STRING, 300))
    o.add(Column("description", MEMO, 2000))
    o.add(Column("estimatedvalue", MONEY, min_value=-922337203685477, max_value=922337203685477))
    o.add(Column("actualvalue", MONEY, min_value=-922337203685477, max_value=922337203685477))
    o.add(Column("estimatedclosedate", DATETIME, date_only=True))
    o.add(Column("actualclosedate", DATETIME, date_only=True))
    o.add(Column("closeprobability", INTEGER, min_value=0, max_value=100))
    o.add(Column("opportunityratingcode", PICKLIST, options={1: "Hot", 2: "Warm", 3: "Cold"}))
    _lookup(o, "customerid", {"customerid_account": "account", "customerid_contact": "contact"}, CUSTOMER)
    _lookup(o, "parentaccountid", {"parentaccountid": "account"})
    _lookup(o, "parentcontactid", {"parentcontactid": "contact"})
    _common(o)
    tables["opportunity"] = o

    # -- incident (Case)  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/incident
    i = Table("incident", "incidents", "incidentid", "title", states={
        0: ("Active", {1: "In Progress", 2: "On Hold", 3: "Waiting for Details", 4: "Researching"}, 1),
        1: ("Resolved", {5: "Problem Solved", 1000: "Information Provided"}, 5),
        2: ("Canceled", {6: "Canceled", 2000: "Merged"}, 6),
    })
    i.add(Column("title", STRING, 200))
    i.add(Column("ticketnumber", STRING, 100))
    i.add(Column("description", MEMO, 2000))
    i.add(Column("prioritycode", PICKLIST, options={1: "High", 2: "Normal", 3: "Low"}))
    i.add(Column("caseorigincode", PICKLIST, options={1: "Phone", 2: "Email", 3: "Web", 2483: "Facebook", 3986: "Twitter"}))
    i.add(Column("casetypecode", PICKLIST, options={1: "Question", 2: "Problem", 3: "Request"}))
    _lookup(i, "customerid", {"customerid_account": "account", "customerid_contact": "contact"}, CUSTOMER)
    _lookup(i, "primarycontactid", {"primarycontactid": "contact"})
    _common(i)
    i.system_required["customerid"] = "You should specify a parent contact or account."
    tables["incident"] = i

    # -- invoice  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/invoice
    inv = Table("invoice", "invoices", "invoiceid", "name", states={
        0: ("Active", {1: "New", 2: "Partially Shipped", 4: "Billed", 5: "Booked (applies to services)",
                       6: "Installed (applies to services)"}, 1),
        1: ("Closed (deprecated)", {3: "Canceled (deprecated)", 7: "Paid in Full (deprecated)"}, 3),
        2: ("Paid", {100001: "Complete", 100002: "Partial"}, 100001),
        3: ("Canceled", {100003: "Canceled"}, 100003),
    })
    inv.add(Column("name", STRING, 300))
    inv.add(Column("invoicenumber", STRING, 100))
    inv.add(Column("description", MEMO, 2000))
    inv.add(Column("totalamount", MONEY, min_value=0, max_value=922337203685477))
    inv.add(Column("duedate", DATETIME, date_only=True))
    _lookup(inv, "customerid", {"customerid_account": "account", "customerid_contact": "contact"}, CUSTOMER)
    _lookup(inv, "opportunityid", {"opportunityid": "opportunity"})
    _common(inv)
    tables["invoice"] = inv

    # -- invoicedetail  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/invoicedetail
    d = Table("invoicedetail", "invoicedetails", "invoicedetailid", None)
    d.add(Column("productdescription", STRING, 500))
    d.add(Column("isproductoverridden", BOOLEAN))
    d.add(Column("priceperunit", MONEY, min_value=-100000000000, max_value=100000000000))
    d.add(Column("quantity", DECIMAL, min_value=0, max_value=1000000000))
    d.add(Column("manualdiscountamount", MONEY, min_value=0, max_value=100000000000))
    d.add(Column("tax", MONEY, min_value=-100000000000, max_value=100000000000))
    d.add(Column("description", MEMO, 2000))
    d.add(Column("extendedamount", MONEY, valid_for_create=False, valid_for_update=False))
    _lookup(d, "invoiceid", {"invoiceid": "invoice"})
    _common(d, owned=False)
    d.system_required["invoiceid"] = "invoiceid"
    tables["invoicedetail"] = d

    # -- activities: the regarding navigation property names carry the activity's name
    # (regardingobjectid_account_task), as the $batch examples show:
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
    regarding = ("account", "contact", "opportunity", "incident", "invoice")
    t = Table("task", "tasks", "activityid", "subject", states={
        0: ("Open", {2: "Not Started", 3: "In Progress", 4: "Waiting on someone else", 7: "Deferred"}, 2),
        1: ("Completed", {5: "Completed"}, 5),
        2: ("Canceled", {6: "Canceled"}, 6),
    })
    t.add(Column("subject", STRING, 200))
    t.add(Column("description", MEMO, 2000))
    t.add(Column("scheduledstart", DATETIME))
    t.add(Column("scheduledend", DATETIME))
    t.add(Column("actualend", DATETIME))
    t.add(Column("actualdurationminutes", INTEGER, min_value=0, max_value=2147483647))
    t.add(Column("percentcomplete", INTEGER, min_value=0, max_value=100))
    t.add(Column("prioritycode", PICKLIST, options={0: "Low", 1: "Normal", 2: "High"}))
    _lookup(t, "regardingobjectid", {f"regardingobjectid_{r}_task": r for r in regarding})
    _common(t)
    tables["task"] = t

    ap = Table("appointment", "appointments", "activityid", "subject", states={
        0: ("Open", {1: "Free", 2: "Tentative"}, 1),
        1: ("Completed", {3: "Completed"}, 3),
        2: ("Canceled", {4: "Canceled"}, 4),
        3: ("Scheduled", {5: "Busy", 6: "Out of Office"}, 5),
    })
    ap.add(Column("subject", STRING, 200))
    ap.add(Column("description", MEMO, 2000))
    ap.add(Column("location", STRING, 200))
    ap.add(Column("scheduledstart", DATETIME))
    ap.add(Column("scheduledend", DATETIME))
    ap.add(Column("isalldayevent", BOOLEAN))
    ap.add(Column("prioritycode", PICKLIST, options={0: "Low", 1: "Normal", 2: "High"}))
    _lookup(ap, "regardingobjectid", {f"regardingobjectid_{r}_appointment": r for r in regarding})
    _common(ap)
    tables["appointment"] = ap

    # -- logged emails and phone calls: their states and status reasons as the table references give them
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/phonecall
    for name, entity_set, states in (
            ("email", "emails", {0: ("Open", {1: "Draft", 8: "Failed"}, 1),
                                 1: ("Completed", {2: "Completed", 3: "Sent", 4: "Received", 6: "Pending Send",
                                                   7: "Sending"}, 2),
                                 2: ("Canceled", {5: "Canceled"}, 5)}),
            ("phonecall", "phonecalls", {0: ("Open", {1: "Open"}, 1), 1: ("Completed", {2: "Made", 4: "Received"}, 2),
                                         2: ("Canceled", {3: "Canceled"}, 3)})):
        act = Table(name, entity_set, "activityid", "subject", states=states)
        act.add(Column("subject", STRING, 200))
        act.add(Column("description", MEMO, 1048576 if name == "email" else 2000))
        act.add(Column("actualend", DATETIME))
        act.add(Column("directioncode", BOOLEAN))
        if name == "phonecall":
            act.add(Column("phonenumber", STRING, 200))
        _lookup(act, "regardingobjectid", {f"regardingobjectid_{r}_{name}": r for r in regarding})
        _common(act)
        tables[name] = act

    # -- the close activities: opportunityclose, created by WinOpportunity / LoseOpportunity, and
    # incidentresolution, created by CloseIncident; completed activities of their opportunity or case
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/opportunityclose
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/incidentresolution
    for name, entity_set, parent in (("opportunityclose", "opportunitycloses", "opportunity"),
                                     ("incidentresolution", "incidentresolutions", "incident")):
        act = Table(name, entity_set, "activityid", "subject", states={
            0: ("Open", {1: "Open"}, 1), 1: ("Completed", {2: "Completed"}, 2), 2: ("Canceled", {3: "Canceled"}, 3)})
        act.add(Column("subject", STRING, 200))
        act.add(Column("description", MEMO, 2000))
        act.add(Column("actualend", DATETIME))
        if name == "opportunityclose":
            act.add(Column("actualrevenue", MONEY, min_value=-922337203685477, max_value=922337203685477))
        else:
            act.add(Column("timespent", INTEGER, min_value=0, max_value=2147483647))
        _lookup(act, f"{parent}id", {f"{parent}id": parent})
        _common(act)
        act.system_required[f"{parent}id"] = (f"A validation error occurred. A value for the required attribute "
                                              f"'{parent}id' of the '{name}' entity was not provided.")
        tables[name] = act

    # -- annotation (Note)  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/annotation
    n = Table("annotation", "annotations", "annotationid", "subject")
    n.add(Column("subject", STRING, 500))
    n.add(Column("notetext", MEMO, 100000))
    n.add(Column("filename", STRING, 255))
    n.add(Column("mimetype", STRING, 256))
    n.add(Column("documentbody", MEMO, 1073741823))
    n.add(Column("filesize", INTEGER, valid_for_create=False, valid_for_update=False))
    n.add(Column("isdocument", BOOLEAN))
    n.add(Column("objecttypecode", STRING, 100, valid_for_update=False, valid_for_create=False))
    _lookup(n, "objectid", {f"objectid_{r}": r for r in ("account", "contact", "opportunity", "incident", "invoice",
                                                        "task", "appointment")})
    _common(n)
    tables["annotation"] = n
    return tables


def is_activity(table: Table) -> bool:
    return table.primary_id == "activityid"


def copy_value(v: Any) -> Any:
    return dict(v) if isinstance(v, dict) else v
