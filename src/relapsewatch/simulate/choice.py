"""The simulated care team's choices: which plan a patient gets, and when each course happens.

Eligibility uses the condition names of ``shared/domain/treatment-options.yaml`` evaluated on
the patient's own history (exposure and refractoriness per drug, transplants, the last line's
outcome), vectorised across patients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.regimens import AGENTS, PLANS, Plan

__all__ = ["History", "Schedule", "choose_plans", "eligible", "schedule_plan"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

AGENT_NAMES = tuple(AGENTS)
AGENT_INDEX = {name: i for i, name in enumerate(AGENT_NAMES)}

#: Days of remission after a transplant that make a second transplant reasonable (2015
#: ASBMT/EBMT/BMT CTN/IMWG consensus: 18 months; EHA-ESMO 2021 with maintenance: 36 months).
_ASCT_18_MONTHS = 548.0
_ASCT_36_MONTHS = 1096.0
#: Days after the last dose within which progression makes a drug refractory (IMWG 2011).
REFRACTORY_WINDOW_DAYS = 60.0


def _class_members(klass: str) -> list[int]:
    return [AGENT_INDEX[a] for a, classes in AGENTS.items() if klass in classes]


@dataclass(slots=True)
class History:
    """What the care team knows about each patient's past treatment (rows = batch patients)."""

    exposed: BoolArray  # (patients, agents)
    refractory: BoolArray  # (patients, agents)
    prior_asct: BoolArray
    asct_remission_days: FloatArray  # last transplant to the progression after it (nan: none)
    progressed_on_last: BoolArray
    transplant_eligible: BoolArray
    car_t_eligible: BoolArray

    @classmethod
    def empty(cls, transplant_eligible: BoolArray, car_t_eligible: BoolArray) -> History:
        count = transplant_eligible.shape[0]
        agents = len(AGENT_NAMES)
        return cls(
            exposed=np.zeros((count, agents), dtype=bool),
            refractory=np.zeros((count, agents), dtype=bool),
            prior_asct=np.zeros(count, dtype=bool),
            asct_remission_days=np.full(count, np.nan),
            progressed_on_last=np.zeros(count, dtype=bool),
            transplant_eligible=transplant_eligible,
            car_t_eligible=car_t_eligible,
        )

    def _any(self, table: BoolArray, klass: str) -> BoolArray:
        result: BoolArray = np.any(table[:, _class_members(klass)], axis=1)
        return result

    def _drug(self, table: BoolArray, drug: str) -> BoolArray:
        result: BoolArray = table[:, AGENT_INDEX[drug]]
        return result

    def condition(self, name: str) -> BoolArray:
        """The yaml condition ``name`` for every patient (unknown facts are false)."""
        rule = _CONDITIONS.get(name)
        if rule is None:
            raise KeyError(f"no simulator rule for condition {name!r}")
        return rule(self)


def _penta(h: History) -> BoolArray:
    named = ["lenalidomide", "pomalidomide", "bortezomib", "carfilzomib"]
    result: BoolArray = h.refractory[:, [AGENT_INDEX[d] for d in named]].all(axis=1) & h._any(
        h.refractory, "anti_cd38"
    )
    return result


def _triple(table_name: str) -> Callable[[History], BoolArray]:
    def rule(h: History) -> BoolArray:
        table = getattr(h, table_name)
        result: BoolArray = h._any(table, "imid") & h._any(table, "pi") & h._any(table, "anti_cd38")
        return result

    return rule


def _drug_rule(table_name: str, drug: str) -> Callable[[History], BoolArray]:
    def rule(h: History) -> BoolArray:
        return h._drug(getattr(h, table_name), drug)

    return rule


def _never(h: History) -> BoolArray:
    return np.zeros(h.exposed.shape[0], dtype=bool)


_CONDITIONS: dict[str, Callable[[History], BoolArray]] = {
    **{
        f"{d}_exposed": _drug_rule("exposed", d)
        for d in ("lenalidomide", "pomalidomide", "bortezomib")
    },
    **{
        f"{d}_refractory": _drug_rule("refractory", d)
        for d in ("lenalidomide", "pomalidomide", "bortezomib", "carfilzomib", "daratumumab")
    },
    "imid_exposed": lambda h: h._any(h.exposed, "imid"),
    "pi_exposed": lambda h: h._any(h.exposed, "pi"),
    "pi_refractory": lambda h: h._any(h.refractory, "pi"),
    "anti_cd38_exposed": lambda h: h._any(h.exposed, "anti_cd38"),
    "anti_cd38_refractory": lambda h: h._any(h.refractory, "anti_cd38"),
    "triple_class_exposed": _triple("exposed"),
    "triple_class_refractory": _triple("refractory"),
    "penta_refractory": _penta,
    "prior_bcma": lambda h: h._any(h.exposed, "bcma"),
    "prior_bcma_car_t": lambda h: h._any(h.exposed, "bcma") & h._any(h.exposed, "car_t"),
    "prior_gprc5d": lambda h: h._any(h.exposed, "gprc5d"),
    "progressed_on_last_therapy": lambda h: h.progressed_on_last,
    "transplant_eligible": lambda h: h.transplant_eligible,
    "transplant_ineligible": lambda h: ~h.transplant_eligible,
    "car_t_eligible": lambda h: h.car_t_eligible,
    "prior_asct": lambda h: h.prior_asct,
    "no_prior_asct": lambda h: ~h.prior_asct,
    "remission_after_prior_asct_ge_18m": lambda h: (
        np.nan_to_num(h.asct_remission_days) >= _ASCT_18_MONTHS
    ),
    "remission_after_prior_asct_ge_36m": lambda h: (
        np.nan_to_num(h.asct_remission_days) >= _ASCT_36_MONTHS
    ),
    # not modelled in the simulator (no cytogenetics, no eye disease, no intolerance records)
    "t_11_14": _never,
    "corneal_disease": _never,
    "lenalidomide_intolerant": _never,
}

#: Condition names the simulator can evaluate.
CONDITION_NAMES = frozenset(_CONDITIONS)


def eligible(plan: Plan, history: History, prior_lines: int) -> BoolArray:
    """Whether each patient may receive ``plan`` with ``prior_lines`` lines behind them."""
    count = history.exposed.shape[0]
    ok = np.ones(count, dtype=bool)
    if prior_lines < plan.min_prior_lines or (
        plan.max_prior_lines is not None and prior_lines > plan.max_prior_lines
    ):
        return np.zeros(count, dtype=bool)
    for requirement in plan.requires:
        if isinstance(requirement, tuple):
            any_of = np.zeros(count, dtype=bool)
            for name in requirement:
                any_of |= history.condition(name)
            ok &= any_of
        else:
            ok &= history.condition(requirement)
    for name in plan.excludes:
        ok &= ~history.condition(name)
    return ok


FALLBACK_PLAN = next(i for i, p in enumerate(PLANS) if p.id == "cyclophosphamide_dex")


def choose_plans(history: History, line: int, u: FloatArray) -> IntArray:
    """Index into :data:`PLANS` for each patient: eligible plans weighted by the line's column.

    ``u`` is one uniform per patient. A patient for whom no plan fits gets the fallback plan.
    """
    column = min(line, 4) - 1
    weights = np.stack([eligible(p, history, line - 1) * p.weights[column] for p in PLANS], axis=1)
    total = weights.sum(axis=1)
    cumulative = np.cumsum(weights, axis=1)
    pick = (cumulative <= (u * total)[:, None]).sum(axis=1)
    pick = np.minimum(pick, len(PLANS) - 1)
    result: IntArray = np.where(total > 0, pick, FALLBACK_PLAN).astype(np.int64)
    return result


@dataclass(frozen=True, slots=True)
class Schedule:
    """When each course of a plan happens, in days from the line start (rows = patients).

    ``end`` is ``inf`` for a course that runs until the line ends; ``acting_end`` is how long it
    keeps killing cells (an infusion of CAR-T cells or a transplant acts for months).
    """

    start: FloatArray  # (patients, courses)
    end: FloatArray
    acting_end: FloatArray
    therapy_days: FloatArray  # (patients,) D of the two-population model

    @property
    def courses(self) -> int:
        return int(self.start.shape[1])


#: Uniform slots each plan may use per line: 2 per phase, 3 per course.
PHASE_SLOTS = 2 * 8
SCHEDULE_SLOTS = PHASE_SLOTS + 3 * 16


def _between(bounds: tuple[float, float], u: FloatArray) -> FloatArray:
    result: FloatArray = np.floor(bounds[0] + (bounds[1] - bounds[0]) * u + 0.5)
    return result


def schedule_plan(plan: Plan, u: FloatArray, *, stop_probability: float) -> Schedule:
    """Course days for the patients given ``plan`` (``u``: ``(patients, SCHEDULE_SLOTS)``)."""
    count = u.shape[0]
    begins: dict[str, FloatArray] = {}
    ends: dict[str, FloatArray] = {}
    for i, phase in enumerate(plan.phases):
        anchor = np.zeros(count) if phase.after is None else ends[phase.after]
        begins[phase.name] = anchor + _between(phase.gap, u[:, 2 * i])
        ends[phase.name] = (
            np.full(count, np.inf)
            if phase.length is None
            else begins[phase.name] + _between(phase.length, u[:, 2 * i + 1])
        )
    starts, finishes, acting = [], [], []
    for c, course in enumerate(plan.courses):
        slot = PHASE_SLOTS + 3 * c
        begin = begins[course.phase]
        end = ends[course.phase]
        if course.length is not None:
            end = begin + _between(course.length, u[:, slot])
        if course.may_stop:
            stops = u[:, slot + 1] < stop_probability
            end = np.where(stops, begin + _between((365, 1095), u[:, slot + 2]), end)
        acts = end
        if course.persists is not None:
            acts = begin + _between(course.persists, u[:, slot])
        starts.append(begin)
        finishes.append(end)
        acting.append(acts if _acts(course.therapy) else np.full(count, -np.inf))
    start = np.stack(starts, axis=1)
    acting_end = np.stack(acting, axis=1)
    return Schedule(
        start=start,
        end=np.stack(finishes, axis=1),
        acting_end=acting_end,
        therapy_days=np.maximum(acting_end.max(axis=1), 0.0),
    )


def _acts(therapy: str) -> bool:
    """Whether a course kills myeloma cells (steroids, growth factors, apheresis do not count)."""
    return therapy in AGENTS or therapy == "autologous_transplant"
