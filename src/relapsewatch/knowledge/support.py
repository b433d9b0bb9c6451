"""The help-and-support directory: contacts, community groups and events, from settings files.

The default (``data/support.yaml``) has generic care-team entries whose contact fields the site
fills (``phone``, ``email``, ``opening_hours``, ``website``), national charities with their public
contact routes, and an empty community list with a text explaining it. A site passes its own YAML
file to :func:`load_support`; it is validated and merged over the default (rules in the default
file's header and in ``docs/knowledge.md``). Every problem is reported at once, each with the
file, the key and how to fix it.

>>> directory = load_support()
>>> [c.id for c in directory.contacts_for("us")]
['specialist_nurse', 'treatment_helpline', 'international_myeloma_foundation']
>>> directory.contact("specialist_nurse").has_details
False
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from relapsewatch.errors import DataError, Problem, echo
from relapsewatch.knowledge.regimens import REGIONS, Region

__all__ = [
    "CONTACT_FIELDS",
    "CONTACT_KINDS",
    "NO_DETAILS_TEXT",
    "Community",
    "CommunityEvent",
    "CommunityGroup",
    "SupportContact",
    "SupportDirectory",
    "load_support",
    "merge_support",
]

ContactKind = Literal["care_team", "charity", "local"]
CONTACT_KINDS: tuple[str, ...] = ("care_team", "charity", "local")
_KIND_ORDER: tuple[str, ...] = ("care_team", "local", "charity")

#: Fields a contact may have (``enabled`` only in a site file, to hide a default contact).
CONTACT_FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "name",
    "description",
    "phone",
    "phone_note",
    "email",
    "opening_hours",
    "website",
    "regions",
    "source",
    "enabled",
)
_TOP_FIELDS = ("review_date", "intro", "ask_a_question", "contacts", "community")
_COMMUNITY_FIELDS = ("intro", "empty_text", "groups", "events")
_GROUP_FIELDS = ("name", "description", "meets", "contact", "website")
_EVENT_FIELDS = ("name", "date", "place", "description", "website")

#: Shown for a care-team contact whose site has not filled in any details.
NO_DETAILS_TEXT = (
    "Your hospital has not added these contact details yet. Your clinic letters or appointment "
    "cards usually have them."
)

DEFAULT_FILE = "support.yaml"


@dataclass(frozen=True, slots=True)
class SupportContact:
    """A person, team or organisation to contact."""

    id: str
    kind: ContactKind
    name: str
    description: str
    phone: str | None
    phone_note: str | None
    email: str | None
    opening_hours: str | None
    website: str | None
    regions: tuple[Region, ...]
    source: str | None

    @property
    def has_details(self) -> bool:
        """Does it give any way to reach it (phone, email or website)?"""
        return any((self.phone, self.email, self.website))

    def patient_texts(self) -> tuple[str, ...]:
        texts = [f"{self.name}. {self.description}"]
        texts += [t for t in (self.phone_note, self.opening_hours) if t]
        if not self.has_details:
            texts.append(NO_DETAILS_TEXT)
        return tuple(texts)


@dataclass(frozen=True, slots=True)
class CommunityGroup:
    """A local or online group."""

    name: str
    description: str
    meets: str | None
    contact: str | None
    website: str | None


@dataclass(frozen=True, slots=True)
class CommunityEvent:
    """An event for patients and families."""

    name: str
    date: dt.date
    place: str | None
    description: str | None
    website: str | None


@dataclass(frozen=True, slots=True)
class Community:
    """Community groups and events; ``empty_text`` explains an empty list."""

    intro: str
    empty_text: str
    groups: tuple[CommunityGroup, ...]
    events: tuple[CommunityEvent, ...]

    def upcoming(self, today: dt.date) -> tuple[CommunityEvent, ...]:
        """Events on or after ``today``, soonest first."""
        return tuple(sorted((e for e in self.events if e.date >= today), key=lambda e: e.date))


@dataclass(frozen=True, slots=True)
class SupportDirectory:
    """The merged help-and-support settings."""

    review_date: dt.date
    intro: str
    ask_a_question: str
    contacts: tuple[SupportContact, ...]
    community: Community
    files: tuple[str, ...]

    def contact(self, contact_id: str) -> SupportContact:
        for contact in self.contacts:
            if contact.id == contact_id:
                return contact
        raise KeyError(f"no contact {contact_id!r}; known: {[c.id for c in self.contacts]}")

    def contacts_for(self, region: Region) -> tuple[SupportContact, ...]:
        """Contacts shown in a region: care team, then local, then national; else file order."""
        chosen = [c for c in self.contacts if region in c.regions]
        return tuple(sorted(chosen, key=lambda c: _KIND_ORDER.index(c.kind)))

    def patient_texts(self) -> tuple[str, ...]:
        """Every patient-facing string (for display checks and readability)."""
        texts = [self.intro, self.ask_a_question, self.community.intro, self.community.empty_text]
        for contact in self.contacts:
            texts += contact.patient_texts()
        for group in self.community.groups:
            texts += [f"{group.name}. {group.description}"]
        for event in self.community.events:
            if event.description:
                texts += [f"{event.name}. {event.description}"]
        return tuple(texts)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


class _Check:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, key: str, found: object, expected: str, fix: str) -> None:
        self.problems.append(Problem(self.file, None, key, echo(found), expected, fix))

    def keys(self, raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                close = get_close_matches(str(key), allowed, n=1)
                hint = f"Did you mean '{close[0]}'?" if close else f"Use one of {list(allowed)}."
                self.add(
                    f"{where}{key}",
                    key,
                    f"one of {', '.join(allowed)}",
                    f"Remove or rename it. {hint}",
                )

    def text(self, raw: Mapping[str, Any], key: str, where: str, *, required: bool) -> None:
        value = raw.get(key)
        if value is None:
            if required:
                self.add(f"{where}{key}", None, "text", f"Add {key}.")
            return
        if not isinstance(value, str) or not value.strip():
            fix = (
                'Put it in quotes, e.g. phone: "0800 000 0000".'
                if key == "phone"
                else (f"Write {key} as text.")
            )
            self.add(f"{where}{key}", value, "text", fix)
            return
        if key == "email" and ("@" not in value or " " in value.strip()):
            self.add(f"{where}{key}", value, "an email address", "Write it as name@example.org.")
        if key == "website" and not value.startswith(("https://", "http://")):
            self.add(
                f"{where}{key}",
                value,
                "a web address starting with https://",
                "Write the full address, e.g. https://www.example.org.",
            )


def _plain(value: object) -> str | None:
    """Text with its whitespace folded (YAML folded blocks keep a final newline), or None."""
    return None if value is None else " ".join(str(value).split())


def _mapping(raw: object, where: str, check: _Check) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        check.add(
            where or "top level",
            raw,
            "a mapping of keys to values",
            "Write `key: value` lines (see the default support.yaml).",
        )
        return {}
    return cast(Mapping[str, Any], raw)


def _items(raw: object, where: str, check: _Check) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        check.add(where, raw, "a list", "Write a YAML list: one `- ` entry per item.")
        return []
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            check.add(f"{where}[{i}]", item, "a mapping", "Give each item its own keys.")
            continue
        out.append(cast(Mapping[str, Any], item))
    return out


def _contact(raw: Mapping[str, Any], where: str, check: _Check) -> SupportContact | None:
    check.keys(raw, CONTACT_FIELDS, f"{where}.")
    for key in ("name", "description", "kind"):
        check.text(raw, key, f"{where}.", required=True)
    for key in ("phone", "phone_note", "email", "opening_hours", "website", "source"):
        check.text(raw, key, f"{where}.", required=False)
    kind = raw.get("kind")
    if isinstance(kind, str) and kind not in CONTACT_KINDS:
        check.add(
            f"{where}.kind",
            kind,
            f"one of {', '.join(CONTACT_KINDS)}",
            "Use care_team, charity or local.",
        )
    regions = raw.get("regions", list(REGIONS))
    if not isinstance(regions, list) or not regions or any(r not in REGIONS for r in regions):
        check.add(
            f"{where}.regions",
            regions,
            f"a list from {list(REGIONS)}",
            "List the regions where it is shown, e.g. [england].",
        )
        regions = []
    if any(p.column and p.column.startswith(f"{where}.") for p in check.problems):
        return None

    return SupportContact(
        id=str(raw["id"]),
        kind=cast(ContactKind, kind),
        name=" ".join(str(raw["name"]).split()),
        description=" ".join(str(raw["description"]).split()),
        phone=_plain(raw.get("phone")),
        phone_note=_plain(raw.get("phone_note")),
        email=_plain(raw.get("email")),
        opening_hours=_plain(raw.get("opening_hours")),
        website=_plain(raw.get("website")),
        regions=tuple(cast(list[Region], regions)),
        source=_plain(raw.get("source")),
    )


def _merge_contacts(
    base: list[dict[str, Any]], site: list[Mapping[str, Any]], check: _Check
) -> list[dict[str, Any]]:
    by_id = {c["id"]: dict(c) for c in base}
    order = [c["id"] for c in base]
    for i, item in enumerate(site):
        cid = item.get("id")
        if not isinstance(cid, str) or not cid:
            check.add(
                f"contacts[{i}].id", cid, "an id", f"Give each contact an id; ours are {order}."
            )
            continue
        if item.get("enabled") is False:
            if cid not in by_id:
                check.add(
                    f"contacts[{i}].id",
                    cid,
                    f"one of {order}",
                    "Only a contact in the default can be hidden with enabled: false.",
                )
            else:
                order.remove(cid)
                del by_id[cid]
            continue
        if cid in by_id:
            by_id[cid].update({k: v for k, v in item.items() if k != "enabled"})
        else:
            by_id[cid] = {k: v for k, v in item.items() if k != "enabled"}
            order.append(cid)
    return [by_id[cid] for cid in order]


def _community(raw: Mapping[str, Any], check: _Check) -> Community:
    check.keys(raw, _COMMUNITY_FIELDS, "community.")
    for key in ("intro", "empty_text"):
        check.text(raw, key, "community.", required=True)
    groups: list[CommunityGroup] = []
    for i, g in enumerate(_items(raw.get("groups"), "community.groups", check)):
        where = f"community.groups[{i}]."
        check.keys(g, _GROUP_FIELDS, where)
        for key in _GROUP_FIELDS:
            check.text(g, key, where, required=key in ("name", "description"))
        groups.append(
            CommunityGroup(
                name=_plain(g.get("name")) or "",
                description=_plain(g.get("description")) or "",
                meets=_plain(g.get("meets")),
                contact=_plain(g.get("contact")),
                website=_plain(g.get("website")),
            )
        )
    events: list[CommunityEvent] = []
    for i, e in enumerate(_items(raw.get("events"), "community.events", check)):
        where = f"community.events[{i}]."
        check.keys(e, _EVENT_FIELDS, where)
        for key in ("name", "place", "description", "website"):
            check.text(e, key, where, required=key == "name")
        day = e.get("date")
        if not isinstance(day, dt.date):
            check.add(f"{where}date", day, "a date YYYY-MM-DD", "Write the date as 2027-03-14.")
            continue
        events.append(
            CommunityEvent(
                name=_plain(e.get("name")) or "",
                date=day,
                place=_plain(e.get("place")),
                description=_plain(e.get("description")),
                website=_plain(e.get("website")),
            )
        )
    return Community(
        str(raw.get("intro", "")).strip(),
        str(raw.get("empty_text", "")).strip(),
        tuple(groups),
        tuple(events),
    )


def merge_support(
    default: Mapping[str, Any], site: Mapping[str, Any] | None = None, *, site_file: str = "site"
) -> SupportDirectory:
    """Validate ``site`` settings and merge them over ``default`` (both parsed YAML mappings).

    Problems found in the site's settings name ``site_file``; every problem is raised together
    as one :class:`~relapsewatch.errors.DataError`.
    """
    check = _Check(site_file)
    site_map = _mapping(site, "", check)
    check.keys(site_map, _TOP_FIELDS, "")
    merged: dict[str, Any] = {
        **default,
        **{k: v for k, v in site_map.items() if k not in ("contacts", "community")},
    }
    site_contacts = _items(site_map.get("contacts"), "contacts", check)
    contacts_raw = _merge_contacts(list(default.get("contacts", [])), site_contacts, check)
    community_raw = {
        **default.get("community", {}),
        **_mapping(site_map.get("community"), "community", check),
    }
    for key in ("intro", "ask_a_question"):
        check.text(merged, key, "", required=True)
    review = merged.get("review_date")
    if not isinstance(review, dt.date):
        check.add("review_date", review, "a date YYYY-MM-DD", "Write the date as 2027-01-31.")
    contacts = []
    for contact_raw in contacts_raw:
        where = f"contacts[{contact_raw['id']}]"
        contact = _contact(contact_raw, where, check)
        if contact is not None:
            contacts.append(contact)
    community = _community(community_raw, check)
    if check.problems:
        raise DataError(
            check.problems,
            summary=f"{len(check.problems)} problem(s) in support settings {site_file}",
        )
    return SupportDirectory(
        review_date=cast(dt.date, review),
        intro=" ".join(str(merged["intro"]).split()),
        ask_a_question=" ".join(str(merged["ask_a_question"]).split()),
        contacts=tuple(contacts),
        community=community,
        files=(DEFAULT_FILE,) if site is None else (DEFAULT_FILE, site_file),
    )


def _default() -> Mapping[str, Any]:
    text = (
        resources.files("relapsewatch.knowledge")
        .joinpath("data", DEFAULT_FILE)
        .read_text(encoding="utf-8")
    )
    return cast(Mapping[str, Any], yaml.safe_load(text))


def load_support(site_file: str | Path | None = None) -> SupportDirectory:
    """The support directory: the packaged default, with a site's YAML file merged over it.

    Raises :class:`~relapsewatch.errors.DataError` naming the file, the key and the fix when the
    site file cannot be read, is not valid YAML, or has unknown keys or wrong values.
    """
    if site_file is None:
        return merge_support(_default(), None)
    path = Path(site_file)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            [
                Problem(
                    name,
                    None,
                    None,
                    echo(exc.strerror),
                    "a readable YAML file",
                    "Check the path given for the support settings.",
                )
            ]
        ) from exc
    try:
        site = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise DataError(
            [
                Problem(
                    name,
                    line,
                    None,
                    "invalid YAML",
                    "valid YAML",
                    f"Fix the YAML syntax: {getattr(exc, 'problem', exc)}.",
                )
            ]
        ) from exc
    return merge_support(_default(), site, site_file=name)
