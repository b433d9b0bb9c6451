"""Care pathways agree with treatment-options.yaml and produce realistic first lines."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from relapsewatch.knowledge.conditions import AnyOf, Condition, PriorLines
from relapsewatch.knowledge.regimens import load_regimens
from relapsewatch.simulate import VirtualCohort
from relapsewatch.simulate.choice import AGENT_INDEX, CONDITION_NAMES, History, choose_plans
from relapsewatch.simulate.regimens import PLANS

OPTIONS = load_regimens()
RELAPSE_PLANS = [p for p in PLANS if p.options_id is not None]


def _names(requirement: object) -> set[str]:
    if isinstance(requirement, Condition):
        return {requirement.name}
    if isinstance(requirement, AnyOf):
        return set().union(*(_names(item) for item in requirement.items))  # type: ignore[attr-defined]
    if isinstance(requirement, PriorLines):
        return set()
    raise TypeError(requirement)


@pytest.mark.parametrize("plan", RELAPSE_PLANS, ids=lambda p: p.id)
def test_relapse_plan_uses_the_options_file_eligibility(plan: object) -> None:
    regimen = OPTIONS.get(plan.options_id)  # type: ignore[attr-defined]
    wanted_requires = (
        set().union(*(_names(r) for r in regimen.requires)) if regimen.requires else set()
    )
    found_requires = set()
    for item in plan.requires:  # type: ignore[attr-defined]
        found_requires |= set(item) if isinstance(item, tuple) else {item}
    assert found_requires == wanted_requires
    assert set(plan.excludes) == {c.name for c in regimen.excludes}  # type: ignore[attr-defined]
    assert plan.min_prior_lines == regimen.min_prior_lines  # type: ignore[attr-defined]


def test_every_condition_a_plan_uses_can_be_evaluated() -> None:
    used = set()
    for plan in PLANS:
        for item in plan.requires:
            used |= set(item) if isinstance(item, tuple) else {item}
        used |= set(plan.excludes)
    assert used <= CONDITION_NAMES


def test_lenalidomide_refractory_patients_never_get_lenalidomide_doublets_or_triplets() -> None:
    count = 400
    history = History.empty(np.zeros(count, dtype=bool), np.ones(count, dtype=bool))
    history.exposed[:, AGENT_INDEX["lenalidomide"]] = True
    history.refractory[:, AGENT_INDEX["lenalidomide"]] = True
    history.exposed[:, AGENT_INDEX["bortezomib"]] = True
    history.progressed_on_last[:] = True
    chosen = {PLANS[i].id for i in choose_plans(history, 2, np.linspace(0, 0.999, count))}
    assert not chosen & {"drd", "krd", "rd", "ird", "elord"}
    assert "cilta_cel" in chosen  # lenalidomide-refractory, PI and IMiD exposed, CAR-T eligible


def test_first_lines_follow_transplant_eligibility(cohort: VirtualCohort) -> None:
    truth = cohort.truth()
    first = (
        truth["truth_lines"]
        .filter(pl.col("line") == 1)
        .join(truth["truth_patients"].select("patient_id", "transplant_eligible"), on="patient_id")
    )
    assert (first.filter(pl.col("transplant"))["transplant_eligible"]).all()
    assert 0.3 <= float(first["transplant"].mean()) <= 0.6  # type: ignore[arg-type]
