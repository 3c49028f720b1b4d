"""Sending a note to the EHR: one FHIR R4 transaction, safe to retry.

What goes to the server, built from the DocumentReference that ``scribe.fhir.document_reference`` makes:

- **Device** (the scribe, naming its models and versions), PUT to an id derived from them.
- **DocumentReference**, POSTed with ``If-None-Exist`` on its version id
  (``masterIdentifier``): a retry or a replay finds the one already there, never makes a
  second. Its ``identifier`` names the note across versions: a new version of a note
  already on the server (the signed note after the draft, an amendment after signing)
  ``relatesTo`` replaces the current one, which is PUT back as ``superseded`` in the same
  transaction; a version after a signed one is ``amended``.
- **Provenance** (HL7 AI Transparency on FHIR): the Device as author with its models, the
  signing clinician as verifier once signed. PUT to an id derived from the version, so a
  retry updates instead of duplicating.

Subject, encounter, author, custodian come from a ``ClinicalContext`` (options, config,
recorder); nothing is invented, and missing identity is an error before anything is
sent. Every bundle is validated (R4B models, our binding checks, transaction rules)
before it leaves; the server's own refusals come back as one readable line.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from scribe.fhir.document_reference import URI_SYSTEM, FhirValidationError, validate_bundle, validate_document_reference

logger = logging.getLogger("scribe.fhir.client")

PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:scribe:fhir-export")
_REFERENCE = re.compile(r"\A(Patient|Practitioner|PractitionerRole|Encounter|Organization)/[A-Za-z0-9\-.]{1,64}\Z")


class IdentityError(ValueError):
    """Who the note is about, by and for is missing or malformed; said before sending."""


class FhirServerError(RuntimeError):
    """The server refused the note (4xx) or kept failing (5xx, timeouts); one line."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ClinicalContext:
    patient: str | None = None  # Patient/123
    practitioner: str | None = None  # the author, and the signer of a signed note
    encounter: str | None = None
    organization: str | None = None  # custodian
    period_start: str | None = None  # the encounter's time, FHIR dateTime
    period_end: str | None = None

    def check(self) -> None:
        fields = {"patient": "Patient", "practitioner": "Practitioner", "encounter": "Encounter",
                  "organization": "Organization"}
        missing = [f for f in fields if not getattr(self, f)]
        if missing:
            raise IdentityError(
                "missing " + ", ".join(missing) + " (give --" + " --".join(missing)
                + " as Type/id, or set them in the [fhir] table of the config file)"
            )
        for f, kind in fields.items():
            ref = getattr(self, f)
            ok = _REFERENCE.match(ref) and (ref.split("/")[0] == kind or (f == "practitioner" and ref.startswith("PractitionerRole/")))
            if not ok:
                raise IdentityError(f"{f} {ref!r} is not a {kind} reference like {kind}/123")


def version_id(doc: dict[str, Any]) -> str:
    return doc["masterIdentifier"]["value"]


def note_id(doc: dict[str, Any]) -> str:
    return doc["identifier"][0]["value"]


def build_transaction(
    doc: dict[str, Any], context: ClinicalContext, *, current: dict[str, Any] | None = None, document: bool = False
) -> dict[str, Any]:
    """The transaction that files ``doc`` (a DocumentReference from
    ``scribe.fhir.document_reference.build_document_reference``) for ``context``. ``current`` is the
    server's current version of the same note, if any (see ``FhirClient.current``).
    ``document``: also file the note as a FHIR document (a Bundle led by a Composition,
    ``scribe.fhir.bundle``)."""
    context.check()
    doc = copy.deepcopy(doc)
    device = next((c for c in doc.pop("contained", []) if c.get("resourceType") == "Device"), None)
    if device is None:
        raise FhirValidationError("DocumentReference.contained: the scribe Device is missing")
    versions = json.dumps([device.get("deviceName"), device.get("version")], sort_keys=True)
    device["id"] = f"scribe-{uuid.uuid5(_NAMESPACE, versions).hex[:24]}"
    device_ref = f"Device/{device['id']}"
    version = version_id(doc)
    doc_url = f"urn:uuid:{uuid.uuid5(_NAMESPACE, version)}"
    signed = doc.get("docStatus") in ("final", "amended")
    entries: list[dict[str, Any]] = []

    doc["author"] = [
        {"reference": context.practitioner},
        {"reference": device_ref, "display": "Scribe (AI draft)"},
    ]
    doc["subject"] = {"reference": context.patient}
    doc["custodian"] = {"reference": context.organization}
    period = {k: v for k, v in (("start", context.period_start), ("end", context.period_end)) if v}
    period = period or doc.get("context", {}).get("period", {})  # the recorder's own times
    related = doc.get("context", {}).get("related")  # the instructions' visit note
    event = doc.get("context", {}).get("event")  # the languages of a visit held in another (document_reference)
    doc["context"] = {"encounter": [{"reference": context.encounter}], **({"event": event} if event else {}),
                      **({"period": period} if period else {}), **({"related": related} if related else {})}
    if signed:
        doc["authenticator"] = {"reference": context.practitioner}
    if current is not None and version_id(current) != version:
        doc["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{current['id']}"}}]
        if signed and current.get("docStatus") in ("final", "amended"):
            doc["docStatus"] = "amended"
        old = {k: v for k, v in current.items() if k != "meta"}
        old["status"] = "superseded"
        entries.append(_entry(f"{_base_url(current)}", old, "PUT", f"DocumentReference/{current['id']}"))

    provenance = {
        "resourceType": "Provenance",
        "id": f"scribe-{uuid.uuid5(_NAMESPACE, 'provenance:' + version).hex[:24]}",
        "meta": doc.get("meta", {}),  # the AIAST label travels with what the AI asserted
        "target": [{"reference": doc_url}],
        "recorded": doc["date"],
        "agent": [{
            "type": {"coding": [{"system": PARTICIPANT, "code": "author", "display": "Author"}]},
            "who": {"reference": device_ref, "display": "Scribe (AI draft)"},
        }],
    }
    if signed:
        provenance["agent"].append({
            "type": {"coding": [{"system": PARTICIPANT, "code": "verifier", "display": "Verifier"}]},
            "who": {"reference": context.practitioner},
        })
    if document:
        from scribe.fhir.bundle import build_document_bundle

        bundle_doc = build_document_bundle(doc, device, device_ref)
        ident = bundle_doc["identifier"]
        # The entry's fullUrl must not be the identifier's value: a server rewrites every
        # occurrence of a fullUrl in the transaction into the resource's new reference.
        entry_url = f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'entry:' + ident['value'])}"
        entries.append(_entry(entry_url, bundle_doc, "POST", "Bundle",
                              if_none_exist=f"identifier={ident['system']}|{ident['value']}"))
    entries = [
        _entry(f"urn:uuid:{uuid.uuid5(_NAMESPACE, device['id'])}", device, "PUT", device_ref),
        *entries,
        _entry(doc_url, doc, "POST", "DocumentReference", if_none_exist=f"identifier={URI_SYSTEM}|{version}"),
        _entry(f"urn:uuid:{uuid.uuid5(_NAMESPACE, provenance['id'])}", provenance, "PUT", f"Provenance/{provenance['id']}"),
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    validate_transaction(bundle)
    return bundle


def _entry(full_url: str, resource: dict, method: str, url: str, if_none_exist: str | None = None) -> dict:
    request = {"method": method, "url": url}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _base_url(resource: dict) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'server:' + resource['id'])}"


def validate_transaction(bundle: dict[str, Any]) -> None:
    """Raise FhirValidationError (one line, naming the entry and element) unless the
    bundle is a transaction an R4 server accepts and each DocumentReference passes our
    binding checks."""
    validate_bundle(bundle, "transaction")
    for i, entry in enumerate(bundle.get("entry", [])):
        where = f"Bundle.entry[{i}]"
        if not entry.get("fullUrl"):
            raise FhirValidationError(f"{where}.fullUrl: missing")
        request = entry.get("request") or {}
        if request.get("method") not in ("POST", "PUT") or not request.get("url"):
            raise FhirValidationError(f"{where}.request: needs method POST or PUT and a url")
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "DocumentReference":
            try:
                validate_document_reference(resource)
            except FhirValidationError as e:
                raise FhirValidationError(f"{where}.resource: {e}") from None


def outcome_line(body: bytes) -> str:
    """An OperationOutcome (or whatever came back) as one readable line."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        return " ".join(body.decode("utf-8", "replace").split())[:300] or "(empty response)"
    if data.get("resourceType") != "OperationOutcome":
        return json.dumps(data)[:300]
    parts = []
    for issue in data.get("issue", []):
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics") or issue.get("code", "")
        where = ", ".join(issue.get("expression", []) or issue.get("location", []))
        parts.append(f"{issue.get('severity', 'error')}: {text}" + (f" at {where}" if where else ""))
    return "; ".join(parts) or "(OperationOutcome without issues)"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib would follow one to any host and send the
    ``Authorization`` header there, and take that host's answer as the EHR's. A 3xx then
    surfaces as an ``HTTPError``, refused in one line."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class FhirClient:
    """A FHIR server's REST API, with the token from the environment or config (never
    the command line), retries with exponential backoff on 5xx, 429 and timeouts.
    Redirects are never followed (``FhirServerError``): the token and the note go to the
    configured address only."""

    base: str
    token: str | None = None
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5  # seconds before the first retry; doubled each time

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self.base.rstrip("/") + "/" + path.lstrip("/")
        data = json.dumps(body).encode() if body is not None else None
        delay = self.backoff
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Accept", "application/fhir+json")
            if data is not None:
                req.add_header("Content-Type", "application/fhir+json")
            if self.token:
                req.add_header("Authorization", f"Bearer {self.token}")
            try:
                with _OPENER.open(req, timeout=self.timeout) as r:
                    return json.loads(r.read() or b"{}")
            except urllib.error.HTTPError as e:
                if 300 <= e.code < 400:
                    raise FhirServerError(
                        f"{self.base} answered {e.code}, a redirect; not followed (the token goes to the "
                        "configured FHIR server only: set its final address)", e.code) from None
                body_bytes = e.read()
                if e.code < 500 and e.code != 429:
                    raise FhirServerError(f"{self.base} refused the request ({e.code}): {outcome_line(body_bytes)}", e.code) from None
                failure = f"{e.code}: {outcome_line(body_bytes)}"
                status = e.code
            except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                failure = f"no answer ({type(reason).__name__ if not isinstance(reason, str) else reason})"
                status = None
            if attempt < self.retries:
                # Status only in the log: a server's error body may echo the note.
                logger.warning("FHIR server %s: %s; retrying in %.1f s", self.base, status or "no answer", delay)
                time.sleep(delay)
                delay *= 2
        raise FhirServerError(f"{self.base} kept failing after {self.retries + 1} attempts ({failure})", status)

    def current(self, note: str) -> dict | None:
        """The server's current version of the note ``note`` (its identifier), if any."""
        from urllib.parse import quote

        found = self.request("GET", f"DocumentReference?identifier={quote(URI_SYSTEM + '|' + note, safe='')}&status=current")
        entries = [e["resource"] for e in found.get("entry", []) if e.get("resource", {}).get("resourceType") == "DocumentReference"]
        return entries[0] if entries else None

    def send(self, doc: dict[str, Any], context: ClinicalContext, *, document: bool = False) -> dict[str, Any]:
        """File ``doc``: look up the note's current version, then one transaction.
        Returns the transaction response."""
        context.check()  # before any request: missing identity never reaches the server
        # An invalid note is refused by build_transaction, before the POST: only the
        # lookup of its identifier has gone out by then.
        bundle = build_transaction(doc, context, current=self.current(note_id(doc)), document=document)
        return self.request("POST", "", bundle)


def filed_note(response: dict[str, Any]) -> tuple[str, bool]:
    """From a transaction response: where the note's DocumentReference is
    (DocumentReference/ID) and whether it was there already (a replay). The note is the
    last DocumentReference entry; a superseded version, if any, comes before it."""
    filed = [e.get("response", {}) for e in response.get("entry", [])
             if e.get("response", {}).get("location", "").startswith("DocumentReference/")]
    if not filed:
        return "DocumentReference", False
    return filed[-1]["location"].split("/_history")[0], filed[-1].get("status", "").startswith("200")
