"""The emulated Dataverse refuses what Microsoft documents the Web API refuses.

Real HTTP with httpx; every rule has a refusal and its message.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid

import httpx
import pytest

from flitstack_connectors.emulators.dataverse import DataverseEmulator

H = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
CDS = "Microsoft.Dynamics.CRM."


class Api:
    def __init__(self, dv: DataverseEmulator):
        self.dv = dv
        self.http = httpx.Client(base_url=dv.api_url + "/", headers={**H, "Authorization": f"Bearer {dv.issue_token()}"})

    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def post(self, path, body=None, **kw):
        return self.http.post(path, json=body, **kw)

    def patch(self, path, body, **kw):
        return self.http.patch(path, json=body, **kw)

    def delete(self, path, **kw):
        return self.http.delete(path, **kw)

    def create(self, entity_set, body):
        r = self.post(entity_set, body)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def error(r: httpx.Response) -> tuple[str, str]:
    e = r.json()["error"]
    return e["code"], e["message"]


@pytest.fixture
def dv(dataverse_factory) -> DataverseEmulator:
    return dataverse_factory()


@pytest.fixture
def api(dv) -> Api:
    return Api(dv)


# -- headers, auth, errors -------------------------------------------------------

def test_odata_headers_are_required_and_must_be_4_0(dv, api):
    token = api.http.headers["Authorization"]
    r = httpx.get(f"{dv.api_url}/accounts", headers={"Authorization": token, "OData-Version": "4.0"})
    assert r.status_code == 400
    assert error(r) == ("", "The request has no OData-MaxVersion header: send 'OData-MaxVersion: 4.0'.")
    r = httpx.get(f"{dv.api_url}/accounts", headers={**H, "Authorization": token, "OData-Version": "3.0"})
    assert error(r)[1] == "The OData-Version header value '3.0' is not supported: use 4.0."


def test_unknown_entity_set_is_a_missing_segment(api):
    r = api.get("Account")
    assert r.status_code == 404
    assert error(r) == ("0x8006088a", "Resource not found for the segment 'Account'.")


def test_bearer_token_missing_or_expired_is_401(dv, api):
    r = httpx.get(f"{dv.api_url}/accounts", headers=H)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith(f"Bearer authorization_uri={dv.authority}/oauth2/authorize")
    assert api.get("accounts").status_code == 200
    dv.expire_tokens()
    r = api.get("accounts")
    assert r.status_code == 401
    assert error(r)[1] == "The user is not authenticated: the bearer token is expired."


def test_whoami_is_a_get_function(dv, api):
    r = api.get("WhoAmI")
    assert r.status_code == 200
    assert r.json()["UserId"] == dv.application_user_id
    assert r.json()["OrganizationId"] == dv.organization_id
    r = api.post("WhoAmI", {})
    assert r.status_code == 404
    assert error(r)[1] == f"No HTTP resource was found that matches the request URI '{dv.environment_url}/api/data/v9.2/WhoAmI'."


# -- create and its refusals --------------------------------------------------------

def test_create_returns_entity_id_or_representation(dv, api):
    r = api.post("accounts", {"name": "Harbor Logistics"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["OData-EntityId"].startswith(f"{dv.api_url}/accounts(")
    r = api.post("accounts?$select=name", {"name": "Summit Dental"}, headers={"Prefer": "return=representation"})
    assert r.status_code == 201
    assert r.headers["Preference-Applied"] == "return=representation"
    body = r.json()
    assert body["name"] == "Summit Dental" and set(body) == {"@odata.context", "@odata.etag", "name", "accountid"}
    assert [row["name"] for row in dv.rows("account")] == ["Harbor Logistics", "Summit Dental"]


def test_unknown_column_is_refused_naming_the_property(api, dv):
    r = api.post("accounts", {"Name": "x"})
    assert r.status_code == 400
    assert error(r) == ("0x0", "An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
                               "Invalid property 'Name' was found in entity 'Microsoft.Dynamics.CRM.account'. ---> "
                               "Microsoft.OData.ODataException: Does not support untyped value in non-open type.")
    assert dv.row_counts()["account"] == 0


def test_string_over_max_length_is_refused(api):
    r = api.post("accounts", {"name": "x" * 161})
    assert r.status_code == 400
    assert error(r) == ("0x80044331", "A validation error occurred.  The length of the 'name' attribute of the 'account' "
                                      "entity exceeded the maximum allowed length of '160'.")
    assert api.post("contacts", {"firstname": "y" * 50, "lastname": "z" * 50}).status_code == 204
    assert error(api.post("contacts", {"lastname": "z" * 51}))[1].endswith("maximum allowed length of '50'.")


def test_wrong_types_are_refused(api):
    code, message = error(api.post("accounts", {"name": "A", "numberofemployees": "12"}))
    assert (code, message) == ("0x0", "An error occurred while validating input parameters: Microsoft.OData.ODataException: "
                                      "Cannot convert the literal '12' to the expected type 'Edm.Int32'.")
    assert "'Edm.Boolean'" in error(api.post("accounts", {"name": "A", "creditonhold": "yes"}))[1]
    assert "'Edm.String'" in error(api.post("accounts", {"name": 5}))[1]
    assert "'Edm.DateTimeOffset'" in error(api.post("tasks", {"subject": "s", "scheduledstart": "next week"}))[1]


def test_picklist_value_outside_the_option_set_is_refused(api):
    r = api.post("accounts", {"name": "A", "accountcategorycode": 3})
    assert r.status_code == 400
    assert error(r)[1] == ("A validation error occurred. The value 3 of 'accountcategorycode' on record of type 'account' "
                           "is outside the valid range. Accepted Values: 1,2")


def test_lookup_binds_by_navigation_property(api, dv):
    acc = api.create("accounts", {"name": "Harbor"})
    ann = dv.user_id("ann.lee@firm.example")
    con = api.create("contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": f"/accounts({acc})",
                                  "ownerid@odata.bind": f"systemusers({ann})"})
    row = dv.rows("contact")[0]
    assert row["_parentcustomerid_value"] == acc and row["_ownerid_value"] == ann and row["fullname"] == "Smith"
    r = api.get(f"contacts({con})?$select=_parentcustomerid_value",
                headers={"Prefer": 'odata.include-annotations="*"'})
    assert r.json()["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert r.json()["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"] == "Harbor"


def test_lookup_by_column_name_is_an_undeclared_property(api):
    acc = api.create("accounts", {"name": "Harbor"})
    r = api.post("contacts", {"lastname": "S", "parentcustomerid@odata.bind": f"accounts({acc})"})
    assert r.status_code == 400
    assert error(r) == ("0x80048d19", "Error identified in Payload provided by the user for Entity :'contacts'  ---->  "
                        "InnerException : Microsoft.OData.ODataException: An undeclared property 'parentcustomerid' which "
                        "only has property annotations in the payload but no property value was found in the payload. "
                        "In OData, only declared navigation properties and declared named streams can be represented as "
                        "properties without values.")
    # activities name their regarding navigation properties after the activity
    opp = api.create("opportunities", {"name": "Deal"})
    assert error(api.post("tasks", {"subject": "t", "regardingobjectid_opportunity@odata.bind": f"opportunities({opp})"}))[0] == "0x80048d19"
    assert api.post("tasks", {"subject": "t", "regardingobjectid_opportunity_task@odata.bind": f"opportunities({opp})"}).status_code == 204
    assert error(api.post("contacts", {"_parentcustomerid_value": acc}))[1] == (
        "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.")


def test_bind_to_missing_row_or_wrong_table_or_disabled_user(api, dv):
    missing = str(uuid.uuid4())
    r = api.post("contacts", {"lastname": "S", "parentcustomerid_account@odata.bind": f"accounts({missing})"})
    assert r.status_code == 404
    assert error(r) == ("0x80040217", f"account With Id = {missing} Does Not Exist")
    con = api.create("contacts", {"lastname": "P"})
    r = api.post("opportunities", {"name": "D", "customerid_account@odata.bind": f"contacts({con})"})
    assert error(r)[1].endswith("the navigation property 'customerid_account' refers to 'accounts', not 'contacts'.")
    bo = dv.user_id("bo.chan@firm.example")
    r = api.post("accounts", {"name": "A", "ownerid@odata.bind": f"systemusers({bo})"})
    assert error(r)[1] == f"The specified user(Id = {bo}) is disabled. Consider enabling this user."
    assert dv.row_counts()["opportunity"] == 0 and dv.row_counts()["account"] == 0


def test_state_and_status_go_together(api):
    task = api.create("tasks", {"subject": "Call", "statecode": 0, "statuscode": 3})
    r = api.patch(f"tasks({task})", {"statecode": 1, "statuscode": 6})
    assert r.status_code == 400
    assert error(r)[1] == f"6 is not a valid status code for state code TaskState.Completed on task with Id {task}."
    assert api.patch(f"tasks({task})", {"statecode": 2, "statuscode": 6}).status_code == 204
    assert api.get(f"tasks({task})?$select=statecode,statuscode").json()["statecode"] == 2
    assert api.patch(f"tasks({task})", {"statuscode": 5}).status_code == 204   # the state follows the status
    assert api.get(f"tasks({task})?$select=statecode").json()["statecode"] == 1


def _refusal(table, state, label, action, other=""):
    return (f"The statecode of a {table} cannot be set to {state} ({label}) by a create or an update: create or "
            f"update the row open, then close it with the {action} action{other}.")


def test_opportunities_and_cases_are_not_closed_by_writing_their_state(api, dv):
    won = _refusal("opportunity", 1, "Won", "WinOpportunity", " or LoseOpportunity for Lost")
    lost = _refusal("opportunity", 2, "Lost", "LoseOpportunity", " or WinOpportunity for Won")
    r = api.post("opportunities", {"name": "Deal", "statecode": 1, "statuscode": 3})
    assert (r.status_code, error(r)) == (400, ("", won))
    assert dv.row_counts()["opportunity"] == 0
    opp = api.create("opportunities", {"name": "Deal", "statecode": 0, "statuscode": 2})
    r = api.patch(f"opportunities({opp})", {"statecode": 2, "statuscode": 5})
    assert (r.status_code, error(r)) == (400, ("", lost))
    r = api.patch(f"opportunities({opp})", {"statuscode": 3})  # the state would follow the status: Won
    assert (r.status_code, error(r)) == (400, ("", won))
    # the bulk messages refuse it too, and all of the request with it
    r = api.post("opportunities/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": f"{CDS}opportunity", "opportunityid": opp, "statecode": 1, "statuscode": 3}]})
    assert (r.status_code, error(r)[1]) == (400, won + " (Targets[0])")
    assert api.get(f"opportunities({opp})?$select=statecode,statuscode").json()["statuscode"] == 2
    acc = api.create("accounts", {"name": "A"})
    case = {"title": "Leak", "customerid_account@odata.bind": f"accounts({acc})"}
    r = api.post("incidents", {**case, "statecode": 1, "statuscode": 5})
    assert (r.status_code, error(r)) == (400, ("", _refusal("incident", 1, "Resolved", "CloseIncident")))
    inc = api.create("incidents", case)
    r = api.patch(f"incidents({inc})", {"statecode": 1, "statuscode": 5})
    assert error(r)[1] == _refusal("incident", 1, "Resolved", "CloseIncident")
    # a case is canceled by its state (no resolution), then read-only until reopened by its state
    assert api.patch(f"incidents({inc})", {"statecode": 2, "statuscode": 6}).status_code == 204
    r = api.patch(f"incidents({inc})", {"title": "Leak 2"})
    assert (r.status_code, error(r)[1]) == (400, f"The incident with Id = {inc} is closed (Canceled) and read-only: "
                                                 f"reopen it first (update its statecode to 0 with an open statuscode), "
                                                 f"then update title.")
    assert api.patch(f"incidents({inc})", {"statecode": 0, "statuscode": 1}).status_code == 204
    assert api.patch(f"incidents({inc})", {"title": "Leak 2"}).status_code == 204
    assert dv.row_counts()["incidentresolution"] == dv.row_counts()["opportunityclose"] == 0


def _close(api, action, param, activity, bind, status):
    return api.post(action, {param: {"@odata.type": f"{CDS}{activity}", "subject": "Closed", **bind},
                             "Status": status})


def test_win_lose_and_close_incident_create_close_activities_and_closed_rows_are_read_only(api, dv):
    opp = api.create("opportunities", {"name": "Deal"})
    bind = {"opportunityid@odata.bind": f"/opportunities({opp})"}
    r = _close(api, "WinOpportunity", "OpportunityClose", "opportunityclose", bind, 4)
    assert (r.status_code, error(r)[1]) == (400, "4 is not a valid status code for state code "
                                                 "OpportunityState.Won on opportunity: use 3.")
    r = api.post("WinOpportunity", {"OpportunityClose": {"subject": "Closed"}, "Status": 3})
    assert error(r)[1] == ("The opportunityclose of 'WinOpportunity' must name the opportunity it closes with "
                           "'opportunityid@odata.bind'.")
    r = api.post("WinOpportunity", {"Status": 3})
    assert error(r)[1].startswith("The 'OpportunityClose' parameter of 'WinOpportunity' is required")
    r = _close(api, "WinOpportunity", "OpportunityClose", "opportunityclose",
               {"opportunityid@odata.bind": f"/opportunities({uuid.uuid4()})"}, 3)
    assert r.status_code == 404 and dv.row_counts()["opportunityclose"] == 0
    assert api.get("WinOpportunity").status_code == 404
    assert _close(api, "WinOpportunity", "OpportunityClose", "opportunityclose", bind, 3).status_code == 204
    row = api.get(f"opportunities({opp})?$select=statecode,statuscode").json()
    assert (row["statecode"], row["statuscode"]) == (1, 3)
    closes = api.get("opportunitycloses?$select=_opportunityid_value,statecode,statuscode,subject").json()["value"]
    assert [(c["_opportunityid_value"], c["statecode"], c["statuscode"], c["subject"]) for c in closes] == [
        (opp, 1, 2, "Closed")]
    # closed: read-only, and not closed twice
    r = _close(api, "LoseOpportunity", "OpportunityClose", "opportunityclose", bind, 5)
    assert (r.status_code, error(r)[1]) == (400, f"The opportunity with Id = {opp} is already closed (Won): reopen "
                                                 f"it before closing it again.")
    assert dv.row_counts()["opportunityclose"] == 1
    r = api.patch(f"opportunities({opp})", {"name": "Deal 2"})
    assert (r.status_code, error(r)[1]) == (400, f"The opportunity with Id = {opp} is closed (Won) and read-only: "
                                                 f"reopen it first (update its statecode to 0 with an open "
                                                 f"statuscode), then update name.")
    r = api.patch(f"opportunities({opp})", {"statecode": 0, "statuscode": 1, "name": "Deal 2"})
    assert r.status_code == 400 and error(r)[1].endswith("then update name.")
    # reopened by its state, then lost
    assert api.patch(f"opportunities({opp})", {"statecode": 0, "statuscode": 1}).status_code == 204
    assert api.patch(f"opportunities({opp})", {"name": "Deal 2"}).status_code == 204
    assert _close(api, "LoseOpportunity", "OpportunityClose", "opportunityclose", bind, 5).status_code == 204
    row = api.get(f"opportunities({opp})?$select=statecode,statuscode,name").json()
    assert (row["statecode"], row["statuscode"], row["name"]) == (2, 5, "Deal 2")
    assert dv.row_counts()["opportunityclose"] == 2
    # a case resolved with its resolution
    acc = api.create("accounts", {"name": "A"})
    inc = api.create("incidents", {"title": "Leak", "customerid_account@odata.bind": f"accounts({acc})"})
    ibind = {"incidentid@odata.bind": f"/incidents({inc})"}
    r = _close(api, "CloseIncident", "IncidentResolution", "incidentresolution", ibind, 6)
    assert error(r)[1] == "6 is not a valid status code for state code IncidentState.Resolved on incident: use 5 or 1000."
    assert _close(api, "CloseIncident", "IncidentResolution", "incidentresolution", ibind, 1000).status_code == 204
    row = api.get(f"incidents({inc})?$select=statecode,statuscode").json()
    assert (row["statecode"], row["statuscode"]) == (1, 1000)
    res = api.get("incidentresolutions?$select=_incidentid_value,activityid").json()["value"]
    assert [r["_incidentid_value"] for r in res] == [inc]
    assert [(a, s, b) for a, s, b in dv.action_log] == [
        ("WinOpportunity", 400, False), ("WinOpportunity", 400, False), ("WinOpportunity", 400, False),
        ("WinOpportunity", 404, False), ("WinOpportunity", 204, False), ("LoseOpportunity", 400, False),
        ("LoseOpportunity", 204, False), ("CloseIncident", 400, False), ("CloseIncident", 204, False)]
    # close activities are readable and deletable; deleting a row takes its close activities with it
    assert api.delete(f"incidentresolutions({res[0]['activityid']})").status_code == 204
    assert dv.row_counts()["incidentresolution"] == 0
    assert api.delete(f"opportunities({opp})").status_code == 204
    assert dv.row_counts()["opportunityclose"] == 0


def test_close_actions_in_a_batch_and_in_a_change_set(api, dv):
    opps = [api.create("opportunities", {"name": f"Deal {i}"}) for i in range(3)]

    def part(action, opp, status):
        body = {"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opp})"}, "Status": status}
        return (f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                f"POST /api/data/v9.2/{action} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                f"{json.dumps(body)}\r\n")
    body, ctype = _batch([part("WinOpportunity", opps[0], 3), part("LoseOpportunity", opps[1], 3),
                          part("LoseOpportunity", opps[2], 4)])
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype, "Prefer": "odata.continue-on-error"})
    assert r.status_code == 200
    assert [int(x) for x in __import__("re").findall(r"HTTP/1.1 (\d{3})", r.text)] == [204, 400, 204]
    states = {o["opportunityid"]: (o["statecode"], o["statuscode"]) for o in dv.rows("opportunity")}
    assert states == {opps[0]: (1, 3), opps[1]: (0, 1), opps[2]: (2, 4)}
    assert dv.action_log == [("WinOpportunity", 204, True), ("LoseOpportunity", 400, True),
                             ("LoseOpportunity", 204, True)]
    # in a change set, all or nothing: the close activity goes with the refused request
    before = dv.snapshot()
    body, ctype = _batch([_changeset([
        ("POST", "/api/data/v9.2/LoseOpportunity",
         {"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opps[1]})"}, "Status": 5}),
        ("POST", "/api/data/v9.2/WinOpportunity",
         {"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opps[0]})"}, "Status": 3}),
    ])])
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and "is already closed (Won)" in r.text
    assert dv.snapshot() == before


def test_incident_needs_a_customer(api):
    r = api.post("incidents", {"title": "Leak"})
    assert error(r)[1] == "You should specify a parent contact or account."
    acc = api.create("accounts", {"name": "A"})
    inc = api.create("incidents", {"title": "Leak", "customerid_account@odata.bind": f"accounts({acc})"})
    assert api.get(f"incidents({inc})?$select=ticketnumber").json()["ticketnumber"].startswith("CAS-")


def test_note_attachment_and_upload_limit(dataverse_factory):
    dv = dataverse_factory(max_upload_bytes=1000)
    api = Api(dv)
    acc = api.create("accounts", {"name": "A"})
    body = base64.b64encode(b"x" * 1000).decode()
    api.create("annotations", {"subject": "Scan", "filename": "scan.pdf", "mimetype": "application/pdf",
                               "documentbody": body, "objectid_account@odata.bind": f"accounts({acc})"})
    note = dv.rows("annotation")[0]
    assert (note["filesize"], note["isdocument"], note["objecttypecode"]) == (1000, True, "account")
    r = api.post("annotations", {"filename": "big.pdf", "documentbody": base64.b64encode(b"x" * 1001).decode(),
                                 "objectid_account@odata.bind": f"accounts({acc})"})
    assert error(r) == ("0x80043e09", "The attachment is either not a valid type or is too large. It cannot be uploaded "
                                      "or downloaded. (1001 bytes; the limit is 1000.)")
    assert error(api.post("annotations", {"documentbody": "not base64!"}))[1] == "The documentbody of an annotation must be base64-encoded."
    org = dv.organization_id
    assert api.patch(f"organizations({org})", {"maxuploadfilesize": 5000}).status_code == 204
    assert api.post("annotations", {"documentbody": base64.b64encode(b"x" * 1001).decode()}).status_code == 204


def test_overriddencreatedon_sets_createdon_and_createdon_is_not_written(api, dv):
    api.create("accounts", {"name": "Old", "overriddencreatedon": "2019-03-04T05:06:07Z", "createdon": "2001-01-01T00:00:00Z"})
    assert dv.rows("account")[0]["createdon"] == "2019-03-04T05:06:07Z"
    assert dv.ignored_writes == [("account", "createdon")]


def test_invoice_lines(api, dv):
    acc = api.create("accounts", {"name": "A"})
    inv = api.create("invoices", {"name": "INV-1", "customerid_account@odata.bind": f"accounts({acc})"})
    api.create("invoicedetails", {"invoiceid@odata.bind": f"invoices({inv})", "isproductoverridden": True,
                                  "productdescription": "Consultation", "priceperunit": 150.0, "quantity": 2})
    assert dv.rows("invoicedetail")[0]["extendedamount"] == 300.0
    assert error(api.post("invoicedetails", {"quantity": 1}))[1] == (
        "A validation error occurred. A value for the required attribute 'invoiceid' of the 'invoicedetail' entity was not provided.")


# -- query and paging --------------------------------------------------------------

def test_select_filter_and_unknown_property(api):
    for name, n in (("Harbor", 10), ("Summit", 20), ("Maple", 30)):
        api.create("accounts", {"name": name, "numberofemployees": n})
    r = api.get("accounts", params={"$select": "name", "$filter": "numberofemployees ge 20 and name ne 'Maple'"})
    assert [a["name"] for a in r.json()["value"]] == ["Summit"]
    r = api.get("accounts", params={"$select": "name", "$filter": "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['harbor','Maple'])"})
    assert [a["name"] for a in r.json()["value"]] == ["Harbor", "Maple"]
    r = api.get("accounts", params={"$select": "name", "$filter": "startswith(name,'Su') or numberofemployees eq 10", "$orderby": "name desc"})
    assert [a["name"] for a in r.json()["value"]] == ["Summit", "Harbor"]
    r = api.get("accounts", params={"$select": "Name"})
    assert r.status_code == 400
    assert error(r) == ("0x0", "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'.")
    assert error(api.get("accounts", params={"$filter": "Name eq 'x'"}))[1] == (
        "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'.")
    assert error(api.get("accounts", params={"$skip": "1"}))[1] == "The query parameter $skip is not supported."
    assert [a["name"] for a in api.get("accounts", params={"$top": "2", "$select": "name"}).json()["value"]] == ["Harbor", "Summit"]


def test_paging_with_maxpagesize_and_next_link(api, dv):
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                 {"Targets": [{"@odata.type": f"{CDS}account", "name": f"A{i:03d}"} for i in range(12)]})
    assert r.status_code == 200 and len(r.json()["Ids"]) == 12
    names, url, pages = [], "accounts?$select=name", 0
    while url:
        r = api.http.get(url, headers={"Prefer": "odata.maxpagesize=5"})
        assert r.headers["Preference-Applied"] == "odata.maxpagesize=5"
        names += [a["name"] for a in r.json()["value"]]
        url = r.json().get("@odata.nextLink")
        pages += 1
    assert pages == 3 and names == [f"A{i:03d}" for i in range(12)]
    # a page size over 5,000 is ignored
    r = api.get("accounts?$select=name", headers={"Prefer": "odata.maxpagesize=9000"})
    assert "Preference-Applied" not in r.headers and len(r.json()["value"]) == 12


# -- update, upsert, delete, alternate keys ------------------------------------------

def _make_key(api, dv, table="account", column="new_clioid"):
    r = api.post(f"EntityDefinitions(LogicalName='{table}')/Attributes", {
        "@odata.type": f"{CDS}StringAttributeMetadata", "AttributeType": "String", "SchemaName": "new_ClioId",
        "MaxLength": 40, "DisplayName": {"LocalizedLabels": [{"Label": "Clio id", "LanguageCode": 1033}]}})
    assert r.status_code == 204, r.text
    r = api.post(f"EntityDefinitions(LogicalName='{table}')/Keys", {
        "SchemaName": "new_clioid_key", "DisplayName": {"LocalizedLabels": [{"Label": "Clio id", "LanguageCode": 1033}]},
        "KeyAttributes": [column]})
    assert r.status_code == 204, r.text


def test_upsert_by_alternate_key_twice_gives_one_row(api, dv):
    _make_key(api, dv)
    assert api.post("PublishXml", {"ParameterXml": "<importexportxml><entities><entity>account</entity></entities></importexportxml>"}).status_code == 204
    assert dv.unpublished == set()
    r = api.patch("accounts(new_clioid='123')", {"name": "Harbor"})
    assert r.status_code == 204
    first = r.headers["OData-EntityId"]
    r = api.patch("accounts(new_clioid='123')", {"name": "Harbor Logistics"})
    assert r.status_code == 204 and r.headers["OData-EntityId"] == first
    assert [(a["name"], a["new_clioid"]) for a in dv.rows("account")] == [("Harbor Logistics", "123")]
    # the key is unique: a second row with the same value is refused
    r = api.post("accounts", {"name": "Other", "new_clioid": "123"})
    assert r.status_code == 412
    assert error(r) == ("0x80060892", "A record that has the attribute values 123 already exists. The entity key "
                        "new_clioid_key requires that this set of attributes contains unique values. Select unique values and try again.")
    # a bind by alternate key
    api.create("contacts", {"lastname": "S", "parentcustomerid_account@odata.bind": "accounts(new_clioid='123')"})
    assert dv.rows("contact")[0]["_parentcustomerid_value"] == first.rsplit("(", 1)[1][:-1]


def test_alternate_key_must_exist_and_be_active(dataverse_factory):
    dv = dataverse_factory(key_activation_delay=0.3)
    api = Api(dv)
    r = api.patch("accounts(accountnumber='7')", {"name": "x"})
    assert error(r)[1] == "Invalid EntityKey Operation performed : no alternate key of entity account has the attributes accountnumber."
    _make_key(api, dv)
    key = api.get("EntityDefinitions(LogicalName='account')/Keys(LogicalName='new_clioid_key')").json()
    assert key["EntityKeyIndexStatus"] == "Pending" and key["KeyAttributes"] == ["new_clioid"]
    r = api.patch("accounts(new_clioid='1')", {"name": "x"})
    assert error(r)[1] == ("Invalid EntityKey Operation performed : the entity key new_clioid_key of account is Pending; "
                           "it can be used once its index is Active.")
    time.sleep(0.35)
    assert api.get("EntityDefinitions(LogicalName='account')/Keys").json()["value"][0]["EntityKeyIndexStatus"] == "Active"
    assert api.patch("accounts(new_clioid='1')", {"name": "x"}).status_code == 204


def test_if_match_and_if_none_match_limit_upsert(api, dv):
    gid = str(uuid.uuid4())
    r = api.patch(f"accounts({gid})", {"name": "x"}, headers={"If-Match": "*"})
    assert r.status_code == 404 and error(r)[1] == f"account With Id = {gid} Does Not Exist"
    assert api.patch(f"accounts({gid})", {"name": "created by upsert"}).status_code == 204
    assert dv.rows("account")[0]["accountid"] == gid
    r = api.patch(f"accounts({gid})", {"name": "y"}, headers={"If-None-Match": "*"})
    assert r.status_code == 412 and error(r)[1] == "A record with matching key values already exists."
    etag = api.get(f"accounts({gid})?$select=name").json()["@odata.etag"]
    assert api.patch(f"accounts({gid})", {"name": "z"}, headers={"If-Match": etag}).status_code == 204
    r = api.patch(f"accounts({gid})", {"name": "w"}, headers={"If-Match": etag})
    assert r.status_code == 412
    assert error(r)[1] == "The version of the existing record doesn't match the RowVersion property provided."
    r = api.patch(f"accounts({gid})?$select=name", {"name": "v"}, headers={"Prefer": "return=representation"})
    assert r.status_code == 200 and r.json()["name"] == "v"
    assert api.get(f"accounts({gid})", headers={"If-None-Match": r.json()["@odata.etag"]}).status_code == 304
    assert api.delete(f"accounts({gid})").status_code == 204
    assert api.delete(f"accounts({gid})").status_code == 404


# -- bulk messages ----------------------------------------------------------------

def test_create_multiple_is_all_or_nothing(api, dv):
    before = dv.snapshot()
    targets = [{"@odata.type": f"{CDS}contact", "lastname": f"L{i}"} for i in range(5)]
    targets[3]["lastname"] = "x" * 51
    r = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets})
    assert r.status_code == 400
    assert error(r)[1] == ("A validation error occurred.  The length of the 'lastname' attribute of the 'contact' entity "
                           "exceeded the maximum allowed length of '50'. (Targets[3])")
    assert dv.snapshot() == before
    r = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [{"lastname": "no type"}]})
    assert error(r)[1].startswith("Error identified in Payload provided by the user: the item of 'Targets' has no '@odata.type'")
    r = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [{"@odata.type": f"{CDS}account", "name": "n"}]})
    assert "is not 'Microsoft.Dynamics.CRM.contact'" in error(r)[1]


def test_update_and_upsert_multiple(api, dv):
    _make_key(api, dv)
    ids = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
        {"@odata.type": f"{CDS}account", "name": "A", "new_clioid": "1"}]}).json()["Ids"]
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": f"{CDS}account", "accountid": ids[0], "name": "A2"}]})
    assert r.status_code == 204
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": f"{CDS}account", "@odata.id": "accounts(new_clioid='1')", "name": "A3"},
        {"@odata.type": f"{CDS}account", "@odata.id": "accounts(new_clioid='2')", "name": "B"}]})
    assert r.status_code == 204 and r.content == b""
    assert sorted((a["new_clioid"], a["name"]) for a in dv.rows("account")) == [("1", "A3"), ("2", "B")]
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": f"{CDS}account", "accountid": str(uuid.uuid4()), "name": "ghost"}]})
    assert r.status_code == 404


# -- $batch ---------------------------------------------------------------------

def _batch(parts: list[str], boundary="batch_AAA123") -> tuple[bytes, str]:
    body = "".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/mixed; boundary={boundary}"


def _changeset(requests: list[tuple[str, str, dict | None]], boundary="changeset_BBB456") -> str:
    text = f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
    for i, (method, url, body) in enumerate(requests, 1):
        text += (f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                 f"Content-ID: {i}\r\n\r\n{method} {url} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n"
                 f"{json.dumps(body) if body is not None else ''}\r\n")
    return text + f"--{boundary}--\r\n"


def test_batch_change_set_with_content_id_references(api, dv):
    body, ctype = _batch([_changeset([
        ("POST", "/api/data/v9.2/accounts", {"name": "Harbor"}),
        ("POST", "/api/data/v9.2/contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": "$1"}),
        ("PATCH", "$1", {"primarycontactid@odata.bind": "$2"}),
    ])])
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assert r.text.count("HTTP/1.1 204 No Content") == 3 and "changesetresponse_" in r.text
    acc, con = dv.rows("account")[0], dv.rows("contact")[0]
    assert con["_parentcustomerid_value"] == acc["accountid"] and acc["_primarycontactid_value"] == con["contactid"]


def test_batch_change_set_rolls_back_on_one_bad_request(api, dv):
    api.create("accounts", {"name": "Before"})
    before = dv.snapshot()
    body, ctype = _batch([_changeset([
        ("POST", "/api/data/v9.2/accounts", {"name": "Harbor"}),
        ("POST", "/api/data/v9.2/contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": "$1"}),
        ("POST", "/api/data/v9.2/tasks", {"subject": "s" * 201}),
    ])])
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400
    assert "Content-ID: 3" in r.text and "HTTP/1.1 400 Bad Request" in r.text
    assert ("The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'."
            in r.text)
    assert dv.snapshot() == before


def test_batch_rules_crlf_get_in_change_set_and_unknown_reference(api):
    body, ctype = _batch([_changeset([("POST", "/api/data/v9.2/accounts", {"name": "A"})])])
    r = api.http.post("$batch", content=body.replace(b"\r\n", b"\n"), headers={"Content-Type": ctype})
    assert r.status_code == 400 and "Stream was not readable" in error(r)[1]
    body, ctype = _batch([_changeset([("GET", "/api/data/v9.2/accounts", None)])])
    assert error(api.http.post("$batch", content=body, headers={"Content-Type": ctype}))[1] == (
        "GET requests are not allowed within a change set.")
    body, ctype = _batch([_changeset([("POST", "/api/data/v9.2/contacts", {"lastname": "S", "parentcustomerid_account@odata.bind": "$1"})])])
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype})
    assert "Content-ID Reference: '$1' does not exist in the batch context." in r.text


def test_batch_continue_on_error_goes_on(api, dv):
    parts = [f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
             f"POST /api/data/v9.2/tasks HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{json.dumps(b)}\r\n"
             for b in ({"subject": "s" * 201}, {"subject": "ok"})]
    body, ctype = _batch(parts)
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and dv.row_counts()["task"] == 0
    r = api.http.post("$batch", content=body, headers={"Content-Type": ctype, "Prefer": "odata.continue-on-error"})
    assert r.status_code == 200 and dv.row_counts()["task"] == 1


# -- metadata -------------------------------------------------------------------

def _label(text):
    return {"@odata.type": f"{CDS}Label", "LocalizedLabels": [{"@odata.type": f"{CDS}LocalizedLabel", "Label": text, "LanguageCode": 1033}]}


def test_columns_of_every_type_then_used(api, dv):
    specs = [
        ("StringAttributeMetadata", "new_Matter", {"MaxLength": 100}),
        ("MemoAttributeMetadata", "new_Notes", {"MaxLength": 5000}),
        ("IntegerAttributeMetadata", "new_Count", {"MinValue": 0, "MaxValue": 10}),
        ("DecimalAttributeMetadata", "new_Hours", {"Precision": 2, "MinValue": 0, "MaxValue": 1000}),
        ("MoneyAttributeMetadata", "new_Balance", {"PrecisionSource": 2}),
        ("DateTimeAttributeMetadata", "new_Opened", {"Format": "DateOnly"}),
        ("BooleanAttributeMetadata", "new_Vip", {"OptionSet": {"TrueOption": {"Value": 1, "Label": _label("Yes")},
                                                               "FalseOption": {"Value": 0, "Label": _label("No")}}}),
        ("PicklistAttributeMetadata", "new_Source", {"OptionSet": {"@odata.type": f"{CDS}OptionSetMetadata", "IsGlobal": False,
            "OptionSetType": "Picklist", "Options": [{"Value": 100000000, "Label": _label("Web")},
                                                     {"Value": 100000001, "Label": _label("Referral")}]}}),
    ]
    for otype, schema, extra in specs:
        r = api.post("EntityDefinitions(LogicalName='account')/Attributes",
                     {"@odata.type": f"{CDS}{otype}", "SchemaName": schema, "DisplayName": _label(schema), **extra})
        assert r.status_code == 204, (schema, r.text)
        assert "/Attributes(" in r.headers["OData-EntityId"]
    assert api.post("PublishAllXml", {}).status_code == 204 and dv.unpublished == set()
    meta = api.get("EntityDefinitions(LogicalName='account')/Attributes",
                   params={"$select": "LogicalName,AttributeType,MaxLength", "$filter": "IsCustomAttribute eq true"}).json()["value"]
    assert [(m["LogicalName"], m["AttributeType"], m.get("MaxLength")) for m in meta] == [
        ("new_matter", "String", 100), ("new_notes", "Memo", 5000), ("new_count", "Integer", None),
        ("new_hours", "Decimal", None), ("new_balance", "Money", None), ("new_opened", "DateTime", None),
        ("new_vip", "Boolean", None), ("new_source", "Picklist", None)]
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='new_source')/"
                "Microsoft.Dynamics.CRM.PicklistAttributeMetadata", params={"$expand": "OptionSet"})
    assert [o["Value"] for o in r.json()["OptionSet"]["Options"]] == [100000000, 100000001]
    api.create("accounts", {"name": "A", "new_matter": "M-1", "new_notes": "n" * 5000, "new_count": 3, "new_hours": 1.5,
                            "new_balance": 10.25, "new_opened": "2024-02-03", "new_vip": True, "new_source": 100000001})
    row = dv.rows("account")[0]
    assert (row["new_opened"], row["new_vip"], row["new_source"]) == ("2024-02-03", True, 100000001)
    assert "outside the valid range (0 to 10)" in error(api.post("accounts", {"name": "B", "new_count": 11}))[1]
    assert "Accepted Values: 100000000,100000001" in error(api.post("accounts", {"name": "B", "new_source": 1}))[1]


def test_column_needs_the_publisher_prefix_and_valid_shape(api):
    r = api.post("EntityDefinitions(LogicalName='account')/Attributes",
                 {"@odata.type": f"{CDS}StringAttributeMetadata", "SchemaName": "ClioId", "MaxLength": 10})
    assert r.status_code == 400
    assert error(r)[1] == ("The SchemaName 'ClioId' of the column does not begin with the customization prefix of a "
                           "publisher (new_).")
    r = api.post("EntityDefinitions(LogicalName='account')/Attributes",
                 {"@odata.type": f"{CDS}StringAttributeMetadata", "SchemaName": "new_X", "MaxLength": 5000})
    assert error(r)[1] == "MaxLength of a String column must be a whole number from 1 to 4000."
    r = api.post("EntityDefinitions(LogicalName='account')/Attributes",
                 {"@odata.type": f"{CDS}LookupAttributeMetadata", "SchemaName": "new_Y"})
    assert error(r)[1].startswith("A lookup column is created with its relationship")
    r = api.post("EntityDefinitions(LogicalName='nosuch')/Attributes", {})
    assert r.status_code == 404


def test_custom_child_table_of_opportunity_for_time_entries(api, dv):
    r = api.post("EntityDefinitions", {
        "@odata.type": f"{CDS}EntityMetadata", "SchemaName": "new_TimeEntry", "DisplayName": _label("Time entry"),
        "DisplayCollectionName": _label("Time entries"), "OwnershipType": "UserOwned", "HasActivities": False,
        "HasNotes": True, "IsActivity": False,
        "Attributes": [{"@odata.type": f"{CDS}StringAttributeMetadata", "SchemaName": "new_Name", "IsPrimaryName": True,
                        "MaxLength": 200, "FormatName": {"Value": "Text"}, "DisplayName": _label("Name")}]})
    assert r.status_code == 204, r.text
    r = api.post("RelationshipDefinitions", {
        "@odata.type": f"{CDS}OneToManyRelationshipMetadata", "SchemaName": "new_opportunity_new_timeentry",
        "ReferencedEntity": "opportunity", "ReferencedAttribute": "opportunityid", "ReferencingEntity": "new_timeentry",
        "Lookup": {"@odata.type": f"{CDS}LookupAttributeMetadata", "AttributeType": "Lookup",
                   "SchemaName": "new_OpportunityId", "DisplayName": _label("Matter")}})
    assert r.status_code == 204, r.text
    api.post("EntityDefinitions(LogicalName='new_timeentry')/Attributes",
             {"@odata.type": f"{CDS}DecimalAttributeMetadata", "SchemaName": "new_Hours", "Precision": 2,
              "MinValue": 0, "MaxValue": 24})
    meta = api.get("EntityDefinitions(LogicalName='new_timeentry')?$select=EntitySetName,PrimaryIdAttribute").json()
    assert (meta["EntitySetName"], meta["PrimaryIdAttribute"]) == ("new_timeentrys", "new_timeentryid")
    opp = api.create("opportunities", {"name": "Divorce"})
    api.create("new_timeentrys", {"new_name": "Call", "new_hours": 1.25, "new_OpportunityId@odata.bind": f"opportunities({opp})"})
    assert dv.rows("new_timeentry")[0]["_new_opportunityid_value"] == opp
    assert dv.row_counts()["new_timeentry"] == 1
    # navigation property names are case sensitive
    assert error(api.post("new_timeentrys", {"new_name": "x", "new_opportunityid@odata.bind": f"opportunities({opp})"}))[0] == "0x80048d19"
    r = api.post("EntityDefinitions", {"SchemaName": "TimeEntry", "DisplayName": _label("T"),
                                       "DisplayCollectionName": _label("Ts"), "OwnershipType": "UserOwned", "Attributes": []})
    assert "does not begin with the customization prefix" in error(r)[1]


# -- service protection -------------------------------------------------------------

def test_rate_limit_429_with_retry_after(dataverse_factory):
    dv = dataverse_factory(rate_limit=3, rate_window=2.0)
    api = Api(dv)
    assert [api.get("accounts").status_code for _ in range(3)] == [200, 200, 200]
    r = api.get("accounts")
    assert r.status_code == 429
    assert error(r) == ("0x80072322", "Number of requests exceeded the limit of 3 over time window of 2 seconds.")
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    assert dv.throttled_for_rate == 1
    time.sleep(int(r.headers["Retry-After"]))
    assert api.get("accounts").status_code == 200


def test_concurrency_and_execution_time_limits(dataverse_factory):
    dv = dataverse_factory(max_concurrency=2, latency=0.3)
    token = dv.issue_token()
    statuses: list[int] = []
    bodies: list[dict] = []

    def call():
        r = httpx.get(f"{dv.api_url}/accounts", headers={**H, "Authorization": f"Bearer {token}"}, timeout=10)
        statuses.append(r.status_code)
        bodies.append(r.json())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 429, 429]
    assert [b["error"]["code"] for b in bodies if "error" in b] == ["0x80072326", "0x80072326"]
    assert dv.throttled_by_limit["concurrency"] == 2

    dv2 = dataverse_factory(execution_time_limit=0.2, latency=0.25)
    api = Api(dv2)
    assert api.get("accounts").status_code == 200
    r = api.get("accounts")
    assert r.status_code == 429 and error(r)[0] == "0x80072321"
    assert error(r)[1].startswith("Combined execution time of incoming requests exceeded limit of 200 milliseconds")


def test_injected_faults_are_not_counted_as_throttling(dv, api):
    dv.inject_faults(rate=0.5, statuses=(429, 503), seed=3)
    statuses = [api.get("accounts").status_code for _ in range(40)]
    assert set(statuses) == {200, 429, 503}
    assert dv.injected_faults == statuses.count(429) + statuses.count(503)
    assert dv.throttled_for_rate == 0
    dv.inject_faults(rate=0)
    dv.force_429(1, retry_after=2)
    r = api.get("accounts")
    assert (r.status_code, r.headers["Retry-After"], error(r)[0]) == (429, "2", "0x80072322")


# -- identity platform over https -------------------------------------------------

def test_msal_acquires_a_token_over_https_with_the_test_ca(dv, monkeypatch):
    import msal

    # requests lets REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) from the environment override the
    # session's verify, so msal's verify= alone is not enough where those are set
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", dv.ca_bundle_path)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    for discovery in (False, dv.instance_discovery_url):
        app = msal.ConfidentialClientApplication(dv.client_id, client_credential=dv.client_secret,
                                                 authority=dv.authority, verify=dv.ca_bundle_path,
                                                 instance_discovery=discovery)
        result = app.acquire_token_for_client(scopes=[f"{dv.environment_url}/.default"])
        assert result.get("token_type") == "Bearer", result
        r = httpx.get(f"{dv.api_url}/WhoAmI", headers={**H, "Authorization": f"Bearer {result['access_token']}"})
        assert r.status_code == 200
    bad = msal.ConfidentialClientApplication(dv.client_id, client_credential="wrong", authority=dv.authority,
                                             verify=dv.ca_bundle_path, instance_discovery=False)
    result = bad.acquire_token_for_client(scopes=[f"{dv.environment_url}/.default"])
    assert result["error"] == "invalid_client" and result["error_description"].startswith("AADSTS7000215")
    result = msal.ConfidentialClientApplication(dv.client_id, client_credential=dv.client_secret, authority=dv.authority,
                                                verify=dv.ca_bundle_path, instance_discovery=False
                                                ).acquire_token_for_client(scopes=[f"{dv.environment_url}/user_impersonation"])
    assert result["error"] == "invalid_scope"


def test_identity_endpoints_refuse_plain_trust(dv):
    import ssl

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dv.authority}/v2.0/.well-known/openid-configuration")
    r = httpx.get(f"{dv.authority}/v2.0/.well-known/openid-configuration",
                  verify=ssl.create_default_context(cafile=dv.ca_bundle_path))
    assert r.json()["token_endpoint"] == f"{dv.authority}/oauth2/v2.0/token"
