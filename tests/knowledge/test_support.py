"""Help and support: the default directory, a site's settings merged over it, and clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from relapsewatch.errors import DataError
from relapsewatch.knowledge.support import NO_DETAILS_TEXT, load_support


def _site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "support.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_has_the_care_team_and_national_charities_with_websites() -> None:
    directory = load_support()
    nurse = directory.contact("specialist_nurse")
    assert nurse.kind == "care_team"
    assert (nurse.phone, nurse.email, nurse.opening_hours) == (None, None, None)
    assert NO_DETAILS_TEXT in nurse.patient_texts()
    charities = [c for c in directory.contacts if c.kind == "charity"]
    assert {c.name for c in charities} == {
        "Myeloma UK",
        "Macmillan Cancer Support",
        "Blood Cancer UK",
        "International Myeloma Foundation",
    }
    assert all(c.website and c.website.startswith("https://") for c in charities)
    assert all(c.source for c in charities)


def test_default_community_is_empty_and_says_why() -> None:
    community = load_support().community
    assert community.groups == () and community.events == ()
    assert "has not added any local groups or events yet" in community.empty_text


def test_contacts_are_shown_by_region_care_team_first_then_local_then_national() -> None:
    directory = load_support()
    england = [c.id for c in directory.contacts_for("england")]
    assert england[:2] == ["specialist_nurse", "treatment_helpline"]
    assert "myeloma_uk" in england
    assert "myeloma_uk" not in [c.id for c in directory.contacts_for("us")]


def test_a_site_fills_its_nurse_details_hides_a_charity_and_adds_groups(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        """
intro: Our myeloma team and these groups can help you.
contacts:
  - id: specialist_nurse
    phone: "020 7946 0000"
    email: myeloma.nurses@example.org
    opening_hours: Monday to Friday, 9am to 5pm
  - id: macmillan
    enabled: false
  - id: local_support
    kind: local
    name: Riverside myeloma group
    description: A group for people with myeloma in our area.
    regions: [england]
community:
  groups:
    - name: Riverside myeloma group
      description: We meet for tea and a chat.
      meets: First Tuesday of the month
  events:
    - name: Patient day
      date: 2027-03-14
      place: Main hospital
    - name: Last year's day
      date: 2025-03-14
""",
    )
    directory = load_support(site)
    nurse = directory.contact("specialist_nurse")
    assert nurse.phone == "020 7946 0000"
    assert nurse.has_details
    assert nurse.description.startswith("Your specialist nurse knows your care.")  # kept
    assert directory.intro == "Our myeloma team and these groups can help you."
    assert "macmillan" not in [c.id for c in directory.contacts]
    assert directory.contacts_for("england")[2].id == "local_support"
    assert [g.name for g in directory.community.groups] == ["Riverside myeloma group"]
    assert [e.name for e in directory.community.upcoming(dt.date(2026, 11, 23))] == ["Patient day"]
    assert directory.files == ("support.yaml", str(site))


def test_every_problem_in_a_site_file_is_reported_with_file_key_and_fix(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        """
intro_text: Hello
contacts:
  - id: specialist_nurse
    phone: 2079460000
    email: not-an-email
    website: www.example.org
  - id: new_group
    kind: club
    regions: [wales]
  - id: unknown_default
    enabled: false
community:
  events:
    - name: Patient day
      date: soon
""",
    )
    with pytest.raises(DataError) as caught:
        load_support(site)
    problems = {p.column: p for p in caught.value.problems}
    assert all(p.file == str(site) for p in caught.value.problems)
    assert "Did you mean 'intro'?" in problems["intro_text"].fix
    assert "quotes" in problems["contacts[specialist_nurse].phone"].fix
    assert "contacts[specialist_nurse].email" in problems
    assert "https://" in problems["contacts[specialist_nurse].website"].fix
    assert "contacts[new_group].name" in problems
    assert "contacts[new_group].kind" in problems
    assert "contacts[new_group].regions" in problems
    assert "enabled: false" in problems["contacts[2].id"].fix
    assert "community.events[0].date" in problems


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    site = _site(tmp_path, "intro: fine\ncontacts: [unclosed\n")
    with pytest.raises(DataError) as caught:
        load_support(site)
    assert caught.value.problems[0].row is not None


def test_a_missing_site_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.yaml"):
        load_support(tmp_path / "nowhere.yaml")
