"""The simulated care team: what it reads on the labs, when it starts the next line, what it gives.

* It reads the marker as the lab reports it (SPEP, or dFLC for light-chain disease) and applies
  the IMWG progression rule with the confirmed nadir (the same rule the course engine applies),
  and the IMWG treat criteria for a biochemical relapse.
* It starts the next line at the confirmed progression (or once a treat criterion also holds),
  at a clinical relapse, or after a toxicity switch; some patients die at progression.
* It writes the treatments rows of the line and updates each patient's exposure and
  refractoriness (progression on or within 60 days of a drug, IMWG 2011).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.choice import AGENT_INDEX, REFRACTORY_WINDOW_DAYS, History, Schedule
from relapsewatch.simulate.dynamics import P1_SERUM, P3_FLC, ProgressionRule
from relapsewatch.simulate.markers import measured_flc, measured_spep
from relapsewatch.simulate.population import Patients
from relapsewatch.simulate.regimens import PLANS
from relapsewatch.simulate.scan import first_confirmed_rises
from relapsewatch.simulate.settings import SimulationSettings

__all__ = [
    "CLINICAL_FINDINGS",
    "END_REASONS",
    "TREATMENT_TRIGGERS",
    "LineEnd",
    "NextLine",
    "next_line",
    "observed_dflc",
    "observed_spep",
    "record_courses",
    "scan_labs",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Why the next line started (index = code; 0 = it did not).
TREATMENT_TRIGGERS = (
    "none",
    "confirmed_progression",
    "treat_criterion",
    "clinical_relapse",
    "toxicity_switch",
)
#: Why a line ended.
END_REASONS = ("next_line", "death", "lost_to_follow_up", "data_cutoff")
#: Clinical relapse findings (Goldman-Mazur: about 40 % of relapses are clinical).
CLINICAL_FINDINGS = ("clinical_relapse", "new_bone_lesion", "new_plasmacytoma")
CLINICAL_SHARES = np.array([0.5, 0.9])  # cumulative: 50 % adjudicated, 40 % bone, 10 % soft

#: The care team's treat criteria for a biochemical relapse (IMWG; Freelite book ch. 18).
TREAT_SERUM = ProgressionRule(
    name="treat", source="IMWG treat criteria", absolute=1.0, relative=0.0
)
TREAT_FLC = ProgressionRule(
    name="treat", source="IMWG treat criteria", absolute=200.0, relative=0.0
)


def between(low: float, high: float, u: FloatArray) -> FloatArray:
    """``low + (high - low) * u``: a uniform draw on ``[low, high)`` from ``u`` on [0, 1)."""
    result: FloatArray = low + (high - low) * u
    return result


def observed_spep(
    patients: Patients,
    rows: IntArray,
    marker: FloatArray,
    noise: dict[str, FloatArray],
    settings: SimulationSettings,
) -> FloatArray:
    """The SPEP value (g/dL) the care team reads: 0 below the floor or when no band is seen."""
    spep, _ = measured_spep(
        marker,
        noise["spep"],
        noise["detect"],
        patients.spep_floor[rows][:, None],
        sd_g_dl=settings.spep_sd_g_dl,
        cv=settings.spep_cv,
        visible_g_dl=settings.spep_band_visible_g_dl,
        detect_sd=settings.detection_noise_sd,
    )
    return spep


def observed_dflc(
    patients: Patients,
    rows: IntArray,
    marker: FloatArray,
    noise: dict[str, FloatArray],
    settings: SimulationSettings,
) -> FloatArray:
    """The dFLC value (mg/L) the care team reads: involved minus uninvolved measured FLC."""
    kappa = patients.kappa[rows][:, None]
    normal_kappa = patients.normal_kappa[rows][:, None]
    normal_lambda = patients.normal_lambda[rows][:, None]
    measured_kappa = measured_flc(
        normal_kappa + np.where(kappa, marker, 0.0), noise["kappa"], cv=settings.flc_cv
    )
    measured_lambda = measured_flc(
        normal_lambda + np.where(kappa, 0.0, marker), noise["lambda"], cv=settings.flc_cv
    )
    result: FloatArray = np.maximum(
        np.where(kappa, measured_kappa - measured_lambda, measured_lambda - measured_kappa), 0.0
    )
    return result


def scan_labs(
    patients: Patients,
    rows: IntArray,
    *,
    seen: BoolArray,
    marker: FloatArray,
    noise: dict[str, FloatArray],
    first: int,
    baseline_column: IntArray,
    settings: SimulationSettings,
) -> tuple[IntArray, IntArray, IntArray]:
    """Visit indices of the first confirmed IMWG rise, its confirmation, and the confirmation
    of the first treat criterion (``-1``: none), reading the labs the team actually has.

    ``seen`` and ``marker`` cover visits ``first:`` of ``rows``; ``noise`` is the batch's whole
    assay-noise grid.
    """
    light = patients.light_chain_only[rows]
    pd_event = np.full(rows.size, -1)
    pd_confirm = np.full(rows.size, -1)
    treat_confirm = np.full(rows.size, -1)
    for group, rule, treat, reader in (
        (~light, P1_SERUM, TREAT_SERUM, observed_spep),
        (light, P3_FLC, TREAT_FLC, observed_dflc),
    ):
        members = np.nonzero(group)[0]
        if members.size == 0:
            continue
        who = rows[members]
        observed = reader(
            patients,
            who,
            marker[members],
            {name: grid[who, first:] for name, grid in noise.items()},
            settings,
        )
        readings = np.where(seen[members], observed, np.nan)
        base_value = readings[np.arange(members.size), baseline_column[members]]
        (ev, cf), (_, tcf) = first_confirmed_rises(readings, base_value, (rule, treat))
        pd_event[members], pd_confirm[members], treat_confirm[members] = ev, cf, tcf
    return pd_event, pd_confirm, treat_confirm


@dataclass(frozen=True, slots=True)
class NextLine:
    """When (absolute day) and why the next line would start, and the progression day."""

    day: FloatArray  # inf: no trigger during follow-up
    trigger: IntArray  # index into TREATMENT_TRIGGERS
    progressed: BoolArray  # the trigger is a progression (IMWG, treat criterion or clinical)
    progression_day: FloatArray  # measured IMWG date (first of the pair), or clinical date
    measured_progression_day: FloatArray  # first day of the confirmed rise seen on the labs


def next_line(
    *,
    start: FloatArray,
    visit_day: FloatArray,
    scan: tuple[IntArray, IntArray, IntArray],
    growth: FloatArray,
    clinical_tau: FloatArray,
    toxicity_tau: FloatArray,
    u: FloatArray,
    settings: SimulationSettings,
) -> NextLine:
    """The care team's decision (``u``: the line's uniforms; columns 7-10 are used here)."""
    pd_event, pd_confirm, treat_confirm = scan
    index = np.arange(start.size)
    pd_day = np.where(pd_event >= 0, visit_day[index, np.maximum(pd_event, 0)], np.inf)
    treat_now = (u[:, 7] < settings.treat_at_confirmed_pd_share) | (
        growth >= np.log(2.0) / settings.treat_doubling_days
    )
    trigger_visit = np.where(treat_now, pd_confirm, treat_confirm)
    t_measured = np.where(
        trigger_visit >= 0,
        visit_day[index, np.maximum(trigger_visit, 0)] + np.floor(between(7, 28, u[:, 8])),
        np.inf,
    )
    t_clinical = start + clinical_tau + np.floor(between(3, 14, u[:, 9]))
    t_toxicity = start + toxicity_tau + np.floor(between(7, 28, u[:, 10]))
    candidates = np.stack([t_measured, t_clinical, t_toxicity], axis=1)
    day = candidates.min(axis=1)
    trigger = np.where(np.isfinite(day), candidates.argmin(axis=1) + 1, 0)
    trigger = np.where((trigger == 1) & ~treat_now, 2, np.where(trigger >= 2, trigger + 1, trigger))
    progressed = (trigger >= 1) & (trigger <= 3)
    return NextLine(
        day=day,
        trigger=trigger,
        progressed=progressed,
        progression_day=np.where(trigger == 3, start + clinical_tau, pd_day),
        measured_progression_day=pd_day,
    )


@dataclass(frozen=True, slots=True)
class LineEnd:
    """How the line ended, as needed to write its treatments rows."""

    start: FloatArray
    continues: BoolArray  # a next line starts
    next_day: FloatArray
    stop_gap: FloatArray  # days between the last dose and the next line
    death: FloatArray
    exit: FloatArray  # end of follow-up
    stop: FloatArray  # next line start, or end of follow-up
    progressed: BoolArray
    progression_day: FloatArray


def record_courses(
    out: Any,
    rows: IntArray,
    plan: int,
    member: IntArray,
    sched: Schedule,
    end_of: LineEnd,
    history: History,
    asct_day: FloatArray,
) -> None:
    """Write one plan group's treatments rows and update exposure and refractoriness.

    A course runs as planned but stops a few days before the next line, at death, or is still
    running (no end date) at the last contact; drugs given at progression or within 60 days
    before it become refractory.
    """
    courses = PLANS[plan].courses
    m = member
    start = end_of.start[m]
    begin = start[:, None] + sched.start
    planned_end = start[:, None] + sched.end
    given = begin < end_of.stop[m][:, None]
    switch_end = (end_of.next_day[m] - end_of.stop_gap[m])[:, None]
    end = np.where(end_of.continues[m][:, None], np.minimum(planned_end, switch_end), planned_end)
    death, exit_day = end_of.death[m], end_of.exit[m]
    died = (death <= exit_day)[:, None]
    end = np.where(died, np.minimum(end, np.minimum(end_of.next_day[m], death)[:, None]), end)
    end = np.where(end > exit_day[:, None], np.nan, end)  # ongoing at the last contact
    end = np.where(np.isnan(end) | (end >= begin), end, begin)
    progressed, progression_day = end_of.progressed[m], end_of.progression_day[m]
    for c, course in enumerate(courses):
        keep = given[:, c]
        if not keep.any():
            continue
        out.add(
            row=rows[m[keep]],
            plan=np.full(int(keep.sum()), plan),
            course=np.full(int(keep.sum()), c),
            start=begin[keep, c],
            end=end[keep, c],
        )
        agent = AGENT_INDEX.get(course.therapy)
        if course.therapy == "autologous_transplant":
            asct_day[m[keep]] = begin[keep, c]
        if agent is None:
            continue
        history.exposed[rows[m[keep]], agent] = True
        last_dose = np.where(np.isnan(end[:, c]), np.inf, end[:, c])
        window_end = (
            np.maximum(last_dose, start + sched.acting_end[:, c])
            if course.persists is not None
            else last_dose
        )
        refractory = (
            keep
            & progressed
            & (begin[:, c] <= progression_day)
            & (window_end >= progression_day - REFRACTORY_WINDOW_DAYS)
        )
        history.refractory[rows[m[refractory]], agent] = True
