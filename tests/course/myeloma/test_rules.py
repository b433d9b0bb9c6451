"""The criteria are printable data with sources, the engine reads its thresholds from them, and
docs/criteria.md lists every rule."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import ex2

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.rules import criteria, criteria_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "criteria.md"
SPEC_IDS = (
    [f"M{i}" for i in range(1, 7)] + [f"C{i}" for i in range(1, 7)]
    + [f"N{i}" for i in range(1, 5)] + [f"P{i}" for i in range(1, 9)]
    + [f"X{i}" for i in range(1, 4)] + [f"D{i}" for i in range(1, 6)]
    + ["R-sCR", "R-CR", "R-VGPR", "R-PR", "R-MR", "R-SD", "R-PR-FLC", "R-VGPR-FLC", "R-CR-FLC",
       "R-sCR-FLC", "R-PR-BM", "R-CR-BM", "A-9", "A-10", "A-28", "A-29", "U6", "U7"]
)  # fmt: skip


def test_every_rule_of_the_specification_is_named_with_a_source() -> None:
    rules = criteria(MyelomaCourseConfig())
    assert set(SPEC_IDS) <= set(rules)
    for rule in rules.values():
        assert rule.statement and rule.source and rule.title
        assert rule.evaluated or rule.note, f"{rule.id} is not evaluated and does not say why"


def test_docs_criteria_lists_every_rule_with_its_anchor_and_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == criteria_markdown(MyelomaCourseConfig()), (
        "docs/criteria.md is stale: regenerate it from rules.criteria_markdown()"
    )
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', text))
    for rule in criteria(MyelomaCourseConfig()).values():
        assert rule.anchor in anchors
        assert f"### {rule.id}:" in text
    assert {"p1", "r-vgpr", "c2", "n1", "x1", "d5"} <= anchors


def test_statements_and_thresholds_follow_the_configuration() -> None:
    strict = MyelomaCourseConfig().replace(pd_serum_abs_g_dl=0.7, include_mr=False)
    rules = criteria(strict)
    assert "a rise ≥ 0.7 g/dL" in rules["P1"].statement
    assert str(rules["P1"].threshold("rise")) == "rise over the nadir ≥ 0.7 g/dL"
    assert "Switched off" in rules["R-MR"].statement


def test_the_engine_reads_its_thresholds_from_the_rules() -> None:
    # Ex-2's 2024-06-03 rise is +0.6 g/dL: PD-qualifying at 0.5, not at 0.7
    assert ex2().run().unconfirmed_progression.height == 1
    strict = MyelomaCourseConfig().replace(pd_serum_abs_g_dl=0.7)
    assert ex2().run(strict).unconfirmed_progression.height == 0
