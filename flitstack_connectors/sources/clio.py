"""Clio Manage, read through its v4 API.

Connecting (:class:`ClioOAuth`, OAuth 2.0 authorization code flow):

1. send the admin to ``authorization_url(state)`` on the account's region
   (app.clio.com, eu.app.clio.com, ca.app.clio.com, au.app.clio.com);
2. Clio redirects back with ``code``; ``exchange_code(code)`` gives a
   :class:`TokenSet`, which the caller stores (the Odoo connection record);
3. a :class:`ClioSource` built on that token set refreshes it when it expires
   or when Clio answers 401, and hands every new token set to
   ``on_token_refresh`` so the caller can store it again;
4. ``deauthorize(token_set)`` revokes the grant when the connection is removed.

Reading (:class:`ClioSource`): every list endpoint is read with an explicit
``fields`` list, ``order=id(asc)``, ``limit=200`` and cursor paging through
``meta.paging.next``; ``updated_since`` selects changes for delta runs.  The
shared :class:`~flitstack_connectors.http.HttpClient` keeps within Clio's 50
requests per minute per token and waits out 429s and 5xx answers.
"""
from __future__ import annotations

import contextlib
import html
import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Callable, Iterator, Optional, Union

from ..errors import AuthenticationError, ConfigurationError, SourceUnavailableError
from ..http import (
    BearerAuth, HttpClient, NextUrlPaginator, RateLimiter, RetryPolicy, TokenSet, TokenStore, is_loopback_url,
    open_download,
)
from ..records import Attachment, FieldInfo, ObjectInfo, SourceRecord
from .base import Source

log = logging.getLogger(__name__)

__all__ = ["ClioOAuth", "ClioSource", "TokenSet", "REGION_HOSTS", "API_VERSION"]

#: where each Clio data region lives
REGION_HOSTS = {
    "us": "https://app.clio.com",
    "eu": "https://eu.app.clio.com",
    "ca": "https://ca.app.clio.com",
    "au": "https://au.app.clio.com",
}
#: the API minor version we read with (Clio's documented default)
API_VERSION = "4.0.9"
#: Clio's documented limit: 50 requests per minute per access token
RATE_LIMIT = 50
RATE_WINDOW = 60.0
PAGE_SIZE = 200

#: a custom field value names its custom field and picklist option as second-level
#: nested resources, which Clio gives with their default fields (id, etag) and
#: refuses a field list for (https://docs.developers.clio.com/api-docs/fields); the
#: option's label comes from the custom fields' own picklist options
_CUSTOM_VALUE_FIELDS = "custom_field_values{id,field_name,field_type,value,custom_field,picklist_option}"

#: the ``fields`` parameter per object: every value the default maps and the
#: field list in discover() use, nested objects in braces
FIELDS = {
    "users": "id,etag,name,first_name,last_name,email,enabled,roles,subscription_type,created_at,updated_at",
    "practice_areas": "id,etag,name,code,category,created_at,updated_at",
    "custom_fields": ("id,etag,name,parent_type,field_type,displayed,deleted,required,display_order,"
                      "created_at,updated_at,picklist_options{id,option,deleted_at}"),
    "contacts": ("id,etag,name,first_name,middle_name,last_name,title,type,date_of_birth,created_at,"
                 "updated_at,primary_email_address,primary_phone_number,company{id,name},"
                 "email_addresses{address,name,primary},phone_numbers{number,name,primary},"
                 "addresses{street,city,province,postal_code,country,name,primary},"
                 "account_balances{id,balance,type,name}," + _CUSTOM_VALUE_FIELDS),
    "matters": ("id,etag,number,display_number,description,status,open_date,close_date,pending_date,"
                "billing_method,created_at,updated_at,client{id,name,type},practice_area{id,name},"
                "responsible_attorney{id,name,email},originating_attorney{id,name,email},"
                # for the rate blueprint, so that the end of a run need not read matters again
                "custom_rate{type,on_invoice,rates}," + _CUSTOM_VALUE_FIELDS),
    # the practice's money (API 4.0.4 and later: a time entry's quantity is in seconds)
    "bank_accounts": ("id,etag,name,type,currency,balance,account_number,institution,default_account,"
                      "created_at,updated_at"),
    "activity_rates": "id,etag,rate,flat_rate,contact_id,co_counsel_contact_id,created_at,updated_at,user{id,name,email}",
    "bills": ("id,etag,number,issued_at,due_at,subject,memo,type,kind,state,tax_rate,secondary_tax_rate,sub_total,"
              "tax_sum,total_tax,total,paid,paid_at,balance,due,created_at,updated_at,client{id,name,type},"
              "matters{id,display_number},discount{rate,type,note},currency{id,code}"),
    "billable_matters": "id,display_number,unbilled_hours,unbilled_amount,amount_in_trust,currency_code,client{id,name}",
    "activities": ("id,etag,type,date,quantity,quantity_in_hours,price,total,note,billed,on_bill,non_billable,"
                   "non_billable_total,flat_rate,tax_setting,created_at,updated_at,matter{id,display_number},"
                   "user{id,name,email},bill{id,number,state},expense_category{id,name}"),
    "allocations": ("id,etag,date,amount,voided_at,created_at,updated_at,bill{id,number},contact{id,name},"
                    "matter{id,display_number},destination_bank_account{id,name,type}"),
    "bank_transactions": ("id,etag,type,transaction_type,date,amount,funds_in,funds_out,description,confirmation,"
                          "currency,bank_account_id,created_at,updated_at,client{id,name,type},"
                          "bank_account{id,name,type}"),
    # files: a document's latest version names the content (id and etag) that download.json serves
    "documents": ("id,etag,name,filename,size,content_type,created_at,updated_at,received_at,matter{id,display_number},"
                  "contact{id,type},latest_document_version{id,etag,filename,size,content_type,version_number,"
                  "created_at,fully_uploaded}"),
    # the practice's history: meetings, tasks, logged emails and calls, notes (a task's
    # description and a note's detail are rich text when their *_text_type says so)
    "calendar_entries": ("id,etag,summary,description,location,start_at,end_at,all_day,created_at,updated_at,"
                         "matter{id,display_number},attendees{id,type,name,email}"),
    "tasks": ("id,etag,name,status,description,description_text_type,priority,due_at,completed_at,created_at,"
              "updated_at,matter{id,display_number},assignee{id,type,name},assigner{id,name,email}"),
    "communications": ("id,etag,subject,body,type,date,received_at,created_at,updated_at,user{id,name,email},"
                       "matter{id,display_number},senders{id,type,name},receivers{id,type,name}"),
    "notes": ("id,etag,type,subject,detail,detail_text_type,date,created_at,updated_at,matter{id,display_number},"
              "contact{id,name,type},author{id,name,email}"),
}
#: list endpoints whose description has no ``order`` parameter (cursor-paged by id
#: as they are), and none without ``updated_since`` (read whole on every run)
NO_ORDER = frozenset({"activity_rates", "billable_matters", "calendar_entries"})
NO_UPDATED_SINCE = frozenset({"billable_matters"})

_LABELS = {"users": "Users", "practice_areas": "Practice areas", "custom_fields": "Custom fields",
           "contacts": "Contacts", "matters": "Matters", "bank_accounts": "Bank accounts",
           "activity_rates": "Activity rates", "bills": "Bills", "billable_matters": "Unbilled work per matter",
           "activities": "Time and expense entries", "allocations": "Bill payments", "documents": "Documents",
           "bank_transactions": "Trust transactions", "calendar_entries": "Calendar entries", "tasks": "Tasks",
           "communications": "Communications (emails, calls)", "notes": "Notes"}
_DEPENDS_ON = {"matters": ["contacts", "practice_areas", "users"], "activity_rates": ["users"],
               "documents": ["matters", "contacts"],
               "bills": ["contacts", "matters"], "billable_matters": ["matters", "contacts"],
               "activities": ["matters", "users", "bills", "billable_matters"], "allocations": ["bills"],
               "bank_transactions": ["contacts", "bank_accounts"],
               "calendar_entries": ["matters", "users", "contacts"], "tasks": ["matters", "users"],
               "communications": ["matters", "users", "contacts"], "notes": ["matters", "contacts", "users"]}
#: custom fields hang on contacts and matters: Clio's parent_type -> our object
_PARENT_OBJECT = {"Contact": "contacts", "Matter": "matters"}


def _f(name: str, label: str, type_: str = "char", **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, label=label, type=type_, **kw)


_ADDRESS = "addresses[primary=True]"
#: fields of each object, by the paths the maps read them with
STANDARD_FIELDS: dict[str, list[FieldInfo]] = {
    "users": [
        _f("id", "ID", "integer", required=True), _f("name", "Name"), _f("first_name", "First name"),
        _f("last_name", "Last name"), _f("email", "Email", "email"), _f("enabled", "Enabled", "boolean"),
        _f("subscription_type", "Subscription type", "selection", selection=["Attorney", "NonAttorney"]),
        _f("roles", "Roles", "json"), _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "practice_areas": [
        _f("id", "ID", "integer", required=True), _f("name", "Name", required=True), _f("code", "Code"),
        _f("category", "Category"), _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "custom_fields": [
        _f("id", "ID", "integer", required=True), _f("name", "Name"),
        _f("parent_type", "Applies to", "selection", selection=["Contact", "Matter"]),
        _f("field_type", "Field type", "selection", selection=[
            "checkbox", "contact", "currency", "date", "time", "email", "matter", "numeric", "picklist",
            "text_area", "text_line", "url"]),
        _f("required", "Required", "boolean"), _f("displayed", "Displayed", "boolean"),
        _f("deleted", "Deleted", "boolean"), _f("picklist_options", "Picklist options", "json"),
    ],
    "contacts": [
        _f("id", "ID", "integer", required=True),
        _f("type", "Type", "selection", required=True, selection=["Company", "Person"]),
        _f("name", "Name"), _f("first_name", "First name"), _f("middle_name", "Middle name"),
        _f("last_name", "Last name"), _f("title", "Title"), _f("date_of_birth", "Date of birth", "date"),
        _f("primary_email_address", "Primary email", "email"), _f("primary_phone_number", "Primary phone", "phone"),
        _f("company.id", "Company", "many2one", relation="contacts"),
        _f("email_addresses", "Email addresses", "json"), _f("phone_numbers", "Phone numbers", "json"),
        _f(f"{_ADDRESS}.street", "Street"), _f(f"{_ADDRESS}.city", "City"),
        _f(f"{_ADDRESS}.province", "State / province"), _f(f"{_ADDRESS}.postal_code", "Postal code"),
        _f(f"{_ADDRESS}.country", "Country"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "matters": [
        _f("id", "ID", "integer", required=True), _f("number", "Number", "integer"),
        _f("display_number", "Display number"), _f("description", "Description", "text"),
        _f("status", "Status", "selection", selection=["Pending", "Open", "Closed"]),
        _f("billing_method", "Billing method", "selection", selection=["flat", "contingency", "hourly"]),
        _f("open_date", "Open date", "date"), _f("close_date", "Close date", "date"),
        _f("pending_date", "Pending date", "date"),
        _f("client.id", "Client", "many2one", relation="contacts"),
        _f("practice_area.id", "Practice area", "many2one", relation="practice_areas"),
        _f("responsible_attorney.id", "Responsible attorney", "many2one", relation="users"),
        _f("originating_attorney.id", "Originating attorney", "many2one", relation="users"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "bank_accounts": [
        _f("id", "ID", "integer", required=True), _f("name", "Name"),
        _f("type", "Type", "selection", selection=["Operating", "Trust"]), _f("currency", "Currency"),
        _f("balance", "Balance", "monetary"), _f("account_number", "Account number"),
        _f("institution", "Institution"), _f("default_account", "Default account", "boolean"),
    ],
    "activity_rates": [
        _f("id", "ID", "integer", required=True), _f("rate", "Rate", "monetary"),
        _f("flat_rate", "Flat rate", "boolean"), _f("user.id", "User", "many2one", relation="users"),
        _f("contact_id", "Contact", "many2one", relation="contacts"),
    ],
    "bills": [
        _f("id", "ID", "integer", required=True), _f("number", "Number"), _f("issued_at", "Issued", "date"),
        _f("due_at", "Due", "date"), _f("subject", "Subject"), _f("memo", "Memo", "text"),
        _f("state", "State", "selection", selection=["draft", "awaiting_approval", "awaiting_payment", "paid",
                                                     "void", "deleted"]),
        _f("tax_rate", "Tax rate", "float"), _f("sub_total", "Subtotal", "monetary"),
        _f("total_tax", "Tax", "monetary"), _f("total", "Total", "monetary"), _f("paid", "Paid", "monetary"),
        _f("balance", "Balance", "monetary"), _f("discount.rate", "Discount", "monetary"),
        _f("client.id", "Client", "many2one", relation="contacts"),
        _f("matters[0].id", "Matter", "many2one", relation="matters"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "billable_matters": [
        _f("id", "Matter", "many2one", relation="matters", required=True), _f("display_number", "Matter number"),
        _f("unbilled_hours", "Unbilled hours", "float"), _f("unbilled_amount", "Unbilled amount", "monetary"),
        _f("client.id", "Client", "many2one", relation="contacts"),
    ],
    "activities": [
        _f("id", "ID", "integer", required=True),
        _f("type", "Type", "selection", selection=["TimeEntry", "ExpenseEntry", "HardCostEntry", "SoftCostEntry"]),
        _f("date", "Date", "date"), _f("quantity", "Quantity (seconds for time)", "float"),
        _f("quantity_in_hours", "Hours", "float"), _f("price", "Rate", "monetary"),
        _f("total", "Total", "monetary"), _f("note", "Description", "text"),
        _f("billed", "Billed", "boolean"), _f("non_billable", "Non-billable", "boolean"),
        _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("user.id", "User", "many2one", relation="users"),
        _f("bill.id", "Bill", "many2one", relation="bills"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "allocations": [
        _f("id", "ID", "integer", required=True), _f("date", "Date", "date"), _f("amount", "Amount", "monetary"),
        _f("bill.id", "Bill", "many2one", relation="bills"),
        _f("contact.id", "Contact", "many2one", relation="contacts"),
        _f("voided_at", "Voided", "datetime"),
    ],
    "documents": [
        _f("id", "ID", "integer", required=True), _f("name", "Name"), _f("filename", "File name"),
        _f("content_type", "Content type"), _f("size", "Size (bytes)", "integer"),
        _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("contact.id", "Contact", "many2one", relation="contacts"),
        _f("latest_document_version.version_number", "Version", "integer"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "bank_transactions": [
        _f("id", "ID", "integer", required=True), _f("date", "Date", "date"),
        _f("transaction_type", "Transaction type"), _f("amount", "Amount", "monetary"),
        _f("funds_in", "Funds in", "monetary"), _f("funds_out", "Funds out", "monetary"),
        _f("description", "Description"), _f("confirmation", "Reference"),
        _f("client.id", "Client", "many2one", relation="contacts"),
        _f("bank_account.id", "Bank account", "many2one", relation="bank_accounts"),
    ],
    # history; the source adds the derived fields (attendee emails, HTML bodies, ...)
    "calendar_entries": [
        _f("id", "ID", "integer", required=True), _f("summary", "Summary"), _f("description", "Description", "text"),
        _f("location", "Location"), _f("start_at", "Starts", "datetime"), _f("end_at", "Ends", "datetime"),
        _f("all_day", "All day", "boolean"), _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("attendees", "Attendees", "json"), _f("attendee_emails", "Attendee emails", "json"),
        _f("owner_email", "Calendar owner's email", "email"), _f("ends_at", "Ends (last day, for all-day)", "datetime"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "tasks": [
        _f("id", "ID", "integer", required=True), _f("name", "Name"),
        _f("status", "Status", "selection", selection=["pending", "in_progress", "in_review", "complete"]),
        _f("description", "Description", "text"), _f("description_html", "Description (HTML)", "html"),
        _f("priority", "Priority", "selection", selection=["High", "Normal", "Low"]),
        _f("due_at", "Due", "date"), _f("deadline", "Due (or created when no due date)", "date"),
        _f("completed_at", "Completed", "datetime"), _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("assignee_user_id", "Assignee (user)", "many2one", relation="users"),
        _f("assigner.id", "Assigner", "many2one", relation="users"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "communications": [
        _f("id", "ID", "integer", required=True), _f("subject", "Subject"), _f("body", "Body", "text"),
        _f("type", "Type", "selection", selection=["EmailCommunication", "PhoneCommunication"]),
        _f("date", "Date", "date"), _f("received_at", "Received", "datetime"),
        _f("occurred_at", "When (received, else the date)", "datetime"),
        _f("user.id", "User", "many2one", relation="users"),
        _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("contact_id", "Contact (first contact among senders and receivers)", "many2one", relation="contacts"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
    "notes": [
        _f("id", "ID", "integer", required=True), _f("type", "Type", "selection", selection=["Matter", "Contact"]),
        _f("subject", "Subject"), _f("detail", "Detail", "text"), _f("detail_html", "Detail (HTML)", "html"),
        _f("date", "Date", "date"), _f("matter.id", "Matter", "many2one", relation="matters"),
        _f("contact.id", "Contact", "many2one", relation="contacts"),
        _f("author.id", "Author", "many2one", relation="users"),
        _f("created_at", "Created", "datetime"), _f("updated_at", "Updated", "datetime"),
    ],
}

#: Clio custom field type -> our field type
CUSTOM_FIELD_TYPES = {
    "picklist": "selection", "date": "date", "numeric": "float", "currency": "monetary",
    "checkbox": "boolean", "text_line": "char", "text_area": "text", "email": "email", "url": "char",
    "time": "char", "contact": "many2one", "matter": "many2one",
}
_CUSTOM_RELATIONS = {"contact": "contacts", "matter": "matters"}


def custom_field_path(custom_field_id: Union[int, str]) -> str:
    """The path of a Clio custom field's value in a record's data (read by
    :func:`flitstack_connectors.mapping.apply.get_path`)."""
    return f"custom_field_values[custom_field.id={custom_field_id}].value"


def clio_base_url(region: str = "us", base_url: Optional[str] = None) -> str:
    """The Clio host for ``region``, or ``base_url`` when given (tests, proxies)."""
    if base_url:
        return base_url.rstrip("/")
    try:
        return REGION_HOSTS[region]
    except KeyError:
        raise ConfigurationError(
            f"Unknown Clio region {region!r}: choose one of {', '.join(REGION_HOSTS)} "
            f"(the host the account signs in on).") from None




_TRANSPORT_LOCK = threading.Lock()


class _DropOAuthLibraryDebugRecords(logging.Filter):
    """requests-oauthlib logs token request bodies and token responses (the
    client secret, access and refresh tokens) at DEBUG: drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("requests_oauthlib.oauth2_session").addFilter(_DropOAuthLibraryDebugRecords())


@contextlib.contextmanager
def _allow_plain_http_to_loopback(url: str) -> Iterator[None]:
    """oauthlib refuses plain http; allow it only for a loopback URL (the local
    emulator), only for the duration of one token request."""
    if not (url.startswith("http://") and is_loopback_url(url)):
        yield
        return
    with _TRANSPORT_LOCK:
        previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
            else:
                os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


class ClioOAuth:
    """Clio's OAuth 2.0 authorization code flow for one registered application."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, region: str = "us",
                 base_url: Optional[str] = None, timeout: float = 30):
        if not client_id or not client_secret:
            raise ConfigurationError("The Clio connection needs the application's client id and client secret "
                                     "(from the Clio developer portal).")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.base_url = clio_base_url(region, base_url)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ClioOAuth(client_id={self.client_id!r}, base_url={self.base_url!r})"

    def _session(self, token: Optional[dict[str, Any]] = None):
        from requests_oauthlib import OAuth2Session

        return OAuth2Session(self.client_id, redirect_uri=self.redirect_uri, token=token)

    def authorization_url(self, state: str) -> str:
        """Where to send the admin to approve access; ``state`` comes back with the code."""
        with _allow_plain_http_to_loopback(self.base_url):
            url, _ = self._session().authorization_url(f"{self.base_url}/oauth/authorize", state=state)
        return url

    def exchange_code(self, code: str) -> TokenSet:
        """The token set for the ``code`` Clio sent to the redirect URI."""
        return self._token_request("exchange the authorization code", lambda s, url: s.fetch_token(
            url, code=code, client_secret=self._client_secret, include_client_id=True, timeout=self.timeout))

    def refresh(self, token_set: TokenSet) -> TokenSet:
        """A new access token for ``token_set`` (Clio keeps the refresh token)."""
        if not token_set.refresh_token:
            raise AuthenticationError("The Clio connection has no refresh token: reconnect the connection "
                                      "to authorize it again.")
        token = self._token_request("renew the access token", lambda s, url: s.refresh_token(
            url, refresh_token=token_set.refresh_token, client_id=self.client_id,
            client_secret=self._client_secret, timeout=self.timeout))
        if token.refresh_token is None:
            token = TokenSet(token.access_token, token_set.refresh_token, token.expires_at, token.token_type)
        return token

    def deauthorize(self, token_set: TokenSet) -> None:
        """Revoke the grant behind ``token_set`` (when the connection is removed)."""
        import requests

        try:
            response = requests.post(
                f"{self.base_url}/oauth/deauthorize", data={"token": token_set.access_token},
                headers={"Authorization": f"Bearer {token_set.access_token}"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SourceUnavailableError(
                f"Could not reach Clio to revoke the connection ({type(exc).__name__}); "
                f"try again, or revoke the application in Clio under Settings > Apps.") from None
        if response.status_code >= 400:
            raise AuthenticationError(
                f"Clio refused to revoke the connection (HTTP {response.status_code}); the access may "
                f"already be revoked: check Clio under Settings > Apps.")

    def _token_request(self, what: str, call: Callable[[Any, str], dict[str, Any]]) -> TokenSet:
        import requests
        from oauthlib.oauth2 import OAuth2Error

        url = f"{self.base_url}/oauth/token"
        try:
            with _allow_plain_http_to_loopback(url):
                token = call(self._session(), url)
        except OAuth2Error as exc:
            log.warning("Clio token endpoint refused to %s (%s)", what, exc.error)
            raise AuthenticationError(
                f"Clio refused to {what} ({exc.error}): reconnect the connection to authorize it again.") from None
        except requests.RequestException as exc:
            raise SourceUnavailableError(
                f"Could not reach Clio to {what} ({type(exc).__name__}): check the network and try again.") from None
        expires_at = token.get("expires_at")
        if expires_at is None and token.get("expires_in") is not None:
            expires_at = time.time() + float(token["expires_in"])
        return TokenSet(access_token=token["access_token"], refresh_token=token.get("refresh_token"),
                        expires_at=float(expires_at) if expires_at is not None else None,
                        token_type=str(token.get("token_type") or "Bearer"))


def _parse_timestamp(value: Any) -> Optional[datetime]:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def document_file(item: dict[str, Any]) -> Attachment:
    """The file of a Clio document: its latest version, downloaded by that version's id
    so that the bytes are those the metadata describes.  The version's id and etag
    identify the content (https://docs.developers.clio.com/api-docs/etags: "Etags can be
    used to detect changes between Clio's data and your copy"); a new upload is a new
    version with a new id."""
    latest = item.get("latest_document_version") or {}
    document_id = str(item["id"])
    location = f"documents/{document_id}/download.json"
    if latest.get("id") is not None:
        location += f"?document_version_id={latest['id']}"
    size = latest.get("size", item.get("size"))
    try:
        created = _parse_timestamp(item.get("created_at"))
    except ValueError:
        created = None
    return Attachment(
        source_id=document_id, filename=str(latest.get("filename") or item.get("filename") or item.get("name")
                                            or f"document-{document_id}"),
        mimetype=latest.get("content_type") or item.get("content_type"), size=size if isinstance(size, int) else None,
        created_at=created, location=location,
        version=f"{latest['id']}:{latest.get('etag') or ''}" if latest.get("id") is not None else None)


def _since_param(since: datetime) -> str:
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return since.isoformat(timespec="seconds")


def text_as_html(text: Any, text_type: Optional[str]) -> Optional[str]:
    """A task description or note detail as HTML: rich text as Clio gives it, plain
    text escaped with its paragraphs and line breaks (``*_text_type``, API changelog
    2025: "rich_text" bodies hold HTML with Clio's supported tags)."""
    if text is None or text == "":
        return None
    if text_type == "rich_text":
        return str(text)
    paragraphs = [p for p in str(text).replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p.strip("\n")).replace("\n", "<br>") + "</p>" for p in paragraphs) or None


def _derive_calendar_entry(item: dict[str, Any]) -> None:
    attendees = [a for a in item.get("attendees") or [] if isinstance(a, dict)]
    item["attendee_emails"] = [a["email"] for a in attendees if a.get("email")]
    # a Calendar attendee is a firm user's calendar; the first one is the entry's owner
    item["owner_email"] = next((a["email"] for a in attendees if a.get("type") == "Calendar" and a.get("email")),
                               None)
    # an all-day entry ends at midnight after its last day (an exclusive end, as in
    # iCalendar); calendars with an all-day flag, Odoo's among them, keep the last day
    item["ends_at"] = item.get("end_at")
    if item.get("all_day") and item.get("end_at") and item.get("start_at"):
        try:
            start, end = _parse_timestamp(item["start_at"]), _parse_timestamp(item["end_at"])
        except ValueError:
            return
        if end > start and (end.hour, end.minute, end.second) == (0, 0, 0):
            item["ends_at"] = (end - timedelta(seconds=1)).isoformat()


def _derive_task(item: dict[str, Any]) -> None:
    item["description_html"] = text_as_html(item.get("description"), item.get("description_text_type"))
    assignee = item.get("assignee") or {}
    # a Participant of type User carries the user's id; Person and Company are contacts
    item["assignee_user_id"] = assignee.get("id") if assignee.get("type") == "User" else None
    item["deadline"] = item.get("due_at") or (str(item.get("created_at") or "")[:10] or None)


def _derive_communication(item: dict[str, Any]) -> None:
    item["occurred_at"] = item.get("received_at") or (f"{item['date']}T00:00:00+00:00" if item.get("date") else None)
    item["body_html"] = text_as_html(item.get("body"), "plain_text")
    participants = [p for p in (item.get("senders") or []) + (item.get("receivers") or []) if isinstance(p, dict)]
    item["contact_id"] = next((p.get("id") for p in participants if p.get("type") in ("Person", "Company")), None)


def _derive_note(item: dict[str, Any]) -> None:
    item["detail_html"] = text_as_html(item.get("detail"), item.get("detail_text_type"))


#: fields the maps read that Clio does not give as such, derived from what it gives
_DERIVED: dict[str, Callable[[dict[str, Any]], None]] = {
    "calendar_entries": _derive_calendar_entry, "tasks": _derive_task,
    "communications": _derive_communication, "notes": _derive_note,
}


class ClioSource(Source):
    """Reads a Clio account with a stored :class:`TokenSet`.

    ``oauth`` (a :class:`ClioOAuth`) lets the source renew expired tokens;
    ``on_token_refresh(token_set)`` receives each renewed set for storage.
    """

    kind = "clio"
    object_order = ("users", "practice_areas", "custom_fields", "contacts", "matters", "documents", "bank_accounts",
                    "activity_rates", "bills", "billable_matters", "activities", "allocations", "bank_transactions",
                    "calendar_entries", "tasks", "communications", "notes")

    def __init__(self, token_set: Union[TokenSet, dict[str, Any]], *, oauth: Optional[ClioOAuth] = None,
                 region: str = "us", base_url: Optional[str] = None,
                 on_token_refresh: Optional[Callable[[TokenSet], None]] = None,
                 api_version: str = API_VERSION, page_size: int = PAGE_SIZE,
                 rate_limit: int = RATE_LIMIT, rate_window: float = RATE_WINDOW,
                 rate_limiter: Optional[RateLimiter] = None, retry: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30):
        if isinstance(token_set, dict):
            token_set = TokenSet.from_dict(token_set)
        if not 1 <= page_size <= PAGE_SIZE:
            raise ConfigurationError(f"Clio pages hold 1 to {PAGE_SIZE} records; page_size={page_size} is out of range.")
        host = clio_base_url(region, base_url or (oauth.base_url if oauth else None))
        self.base_url = host
        self.page_size = page_size
        self.tokens = TokenStore(token_set, refresher=oauth.refresh if oauth else None,
                                 on_refresh=on_token_refresh, source_name="Clio")
        self.rate_limiter = rate_limiter or RateLimiter(rate_limit, rate_window, sleep=sleep)
        self.http = HttpClient(
            f"{host}/api/v4", auth=BearerAuth(self.tokens), rate_limiter=self.rate_limiter, retry=retry,
            headers={"X-API-VERSION": api_version, "Accept": "application/json",
                     "User-Agent": "FlitStack-Migration"},
            timeout=timeout, sleep=sleep, source_name="Clio",
            reconnect_hint="reconnect the Clio connection to authorize it again",
        )
        self._paginator = NextUrlPaginator(("meta", "paging", "next"))
        self._picklist_labels: Optional[dict[int, str]] = None
        #: pages read, per object, for diagnostics
        self.pages_read: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ClioSource(base_url={self.base_url!r})"

    # -- Source -------------------------------------------------------------
    def read(self, object_name: str, since: Optional[datetime] = None) -> Iterator[SourceRecord]:
        """Every record of ``object_name`` in id order, page by page; with ``since``
        only those Clio reports as updated after it."""
        params = self._list_params(object_name)
        if since is not None and object_name not in NO_UPDATED_SINCE:
            params["updated_since"] = _since_param(since)
        for page in self._paginator.pages(self.http, f"{object_name}.json", params):
            self.pages_read[object_name] = self.pages_read.get(object_name, 0) + 1
            for item in page.get("data") or []:
                yield self._record(object_name, item)

    def read_pages(self, object_name: str, since: Optional[datetime] = None,
                   cursor: Optional[dict[str, Any]] = None,
                   page_size: int = PAGE_SIZE) -> Iterator[tuple[list[SourceRecord], Optional[dict[str, Any]]]]:
        """Clio's pages with their ``meta.paging.next`` link as the cursor
        (``{"next": url}``): a read resumed from it asks Clio for the page after
        the last one read, never one before it.  The link carries the page token
        and the query, never a credential; it also carries the picklist labels
        the read looked up, so a resumed read does not ask for them again."""
        if cursor and cursor.get("picklist_labels") and self._picklist_labels is None:
            self._picklist_labels = {int(k): v for k, v in cursor["picklist_labels"].items()}
        if cursor and cursor.get("next"):
            page = self.http.get_json(cursor["next"])
        else:
            params = self._list_params(object_name)
            if since is not None and object_name not in NO_UPDATED_SINCE:
                params["updated_since"] = _since_param(since)
            page = self.http.get_json(f"{object_name}.json", params)
        while True:
            self.pages_read[object_name] = self.pages_read.get(object_name, 0) + 1
            records = [self._record(object_name, item) for item in page.get("data") or []]
            following = self._paginator.next_url(page)
            resume = None
            if following:
                resume = {"next": following}
                if self._picklist_labels:
                    resume["picklist_labels"] = {str(k): v for k, v in self._picklist_labels.items()}
            yield records, resume
            if not following:
                return
            page = self.http.get_json(following)

    def count(self, object_name: str) -> Optional[int]:
        """``meta.records`` of a one-record page, or None when Clio does not say."""
        params = {**self._list_params(object_name), "fields": "id", "limit": 1}
        page = self.http.get_json(f"{object_name}.json", params)
        records = (page.get("meta") or {}).get("records")
        return int(records) if isinstance(records, (int, float)) else None

    def discover(self) -> list[ObjectInfo]:
        """The five objects with their standard fields, one field per Clio custom
        field of contacts and matters, and record counts."""
        custom: dict[str, list[FieldInfo]] = {"contacts": [], "matters": []}
        for record in self.read("custom_fields"):
            cf = record.data
            target = _PARENT_OBJECT.get(cf.get("parent_type"))
            if target is None or cf.get("deleted") or record.problems:
                continue
            ftype = cf.get("field_type")
            options = [o.get("option") for o in cf.get("picklist_options") or []
                       if o.get("option") and not o.get("deleted_at")]
            custom[target].append(FieldInfo(
                name=custom_field_path(cf["id"]), label=cf.get("name") or f"Custom field {cf['id']}",
                type=CUSTOM_FIELD_TYPES.get(ftype, "char"), required=bool(cf.get("required")),
                selection=options if ftype == "picklist" else [],
                relation=_CUSTOM_RELATIONS.get(ftype), custom_id=str(cf["id"]),
            ))
        return [
            ObjectInfo(name=name, label=_LABELS[name], count=self.count(name),
                       fields=STANDARD_FIELDS[name] + custom.get(name, []),
                       depends_on=list(_DEPENDS_ON.get(name, [])))
            for name in self.object_order
        ]

    def open_attachment(self, attachment: Attachment) -> IO[bytes]:
        """The content of a document's version as a binary stream (close it when
        done): ``documents/{id}/download.json`` answers 303 to a signed URL, which
        is fetched without the Clio token (see :func:`~flitstack_connectors.http.open_download`)."""
        location = attachment.location or f"documents/{attachment.source_id}/download.json"
        return open_download(self.http, location, what=f"document {attachment.source_id}")

    def check_connection(self) -> dict[str, Any]:
        """The connected Clio user (``id``, ``name``, ``email``); raises when the
        connection does not work."""
        return self.http.get_json("users/who_am_i.json", {"fields": "id,name,email"}).get("data") or {}

    def close(self) -> None:
        self.http.close()

    # -- helpers ------------------------------------------------------------
    def _list_params(self, object_name: str) -> dict[str, Any]:
        if object_name not in FIELDS:
            raise ConfigurationError(
                f"Clio has no object {object_name!r} here: choose one of {', '.join(self.object_order)}.")
        # cursor paging: order=id(asc) and no offset where the endpoint takes an order
        # (https://docs.developers.clio.com/api-docs/paging)
        params: dict[str, Any] = {"fields": FIELDS[object_name], "limit": self.page_size}
        if object_name not in NO_ORDER:
            params["order"] = "id(asc)"
        return params

    def _record(self, object_name: str, item: dict[str, Any]) -> SourceRecord:
        problems: list[str] = []
        raw_id = item.get("id")
        if raw_id is None or raw_id == "":
            problems.append(f"Clio returned a {object_name} record without an id")
        updated_at = None
        try:
            updated_at = _parse_timestamp(item.get("updated_at"))
        except ValueError:
            problems.append("updated_at is not an ISO-8601 timestamp")
        for value in item.get("custom_field_values") or []:
            if isinstance(value, dict) and value.get("field_type") == "picklist":
                self._label_picklist_value(value)
        derive = _DERIVED.get(object_name)
        if derive is not None:
            derive(item)
        files = [document_file(item)] if object_name == "documents" and raw_id not in (None, "") else []
        return SourceRecord(object=object_name, source_id="" if raw_id is None else str(raw_id), data=item,
                            updated_at=updated_at, problems=problems, attachments=files)

    def _label_picklist_value(self, value: dict[str, Any]) -> None:
        """Clio gives a picklist value as the option id; put the option's label in
        ``value`` (the id stays in ``picklist_option.id``)."""
        option = value.get("picklist_option")
        if isinstance(option, dict) and option.get("option") is not None:
            value["value"] = option["option"]
            return
        raw = option.get("id") if isinstance(option, dict) and option.get("id") is not None else value.get("value")
        if raw is None or raw == "":
            return
        if self._picklist_labels is None:
            self._picklist_labels = {
                int(o["id"]): o["option"]
                for cf in self.read("custom_fields") for o in cf.data.get("picklist_options") or []
                if o.get("id") is not None and o.get("option") is not None
            }
        try:
            label = self._picklist_labels.get(int(raw))
        except (TypeError, ValueError):
            return
        if label is not None:
            value["picklist_option"] = {"id": int(raw), "option": label}
            value["value"] = label
