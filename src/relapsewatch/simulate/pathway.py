"""The line-by-line simulation: disease dynamics, lab visits, the care team's decisions.

One loop over *lines* (never over patients): for every patient still followed, line ``k`` draws
its regimen (:mod:`~relapsewatch.simulate.choice`) and its two-population parameters
(:mod:`~relapsewatch.simulate.line_model`), lays out the lab visits from the line start,
computes the noiseless truth (nadir, start of regrowth, IMWG progression) and what the care team
sees and decides (:mod:`~relapsewatch.simulate.care`): line ``k + 1`` starts at the confirmed
IMWG progression seen on the labs (or, for some, once a treat criterion also holds), at a
clinical relapse, or after a toxicity switch. Deaths and loss to follow-up end the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.care import (
    CLINICAL_FINDINGS,
    CLINICAL_SHARES,
    END_REASONS,
    TREATMENT_TRIGGERS,
    LineEnd,
    between,
    next_line,
    record_courses,
    scan_labs,
)
from relapsewatch.simulate.choice import SCHEDULE_SLOTS, History, choose_plans, schedule_plan
from relapsewatch.simulate.dynamics import P1_SERUM, P3_FLC, first_time_at_or_above
from relapsewatch.simulate.line_model import draw_line_model, line_truth
from relapsewatch.simulate.population import Patients
from relapsewatch.simulate.randomness import CohortRandom
from relapsewatch.simulate.regimens import PLANS
from relapsewatch.simulate.scan import first_confirmed_rise
from relapsewatch.simulate.settings import SimulationSettings

__all__ = [
    "CLINICAL_FINDINGS",
    "END_REASONS",
    "TREATMENT_TRIGGERS",
    "LineRecords",
    "Pathways",
    "simulate_pathways",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

LINE_UNIFORMS = 16
LINE_NORMALS = 5


@dataclass(slots=True)
class LineRecords:
    """One entry per (patient, line) that started, in line order then patient order."""

    columns: dict[str, list[NDArray[Any]]] = field(default_factory=dict)

    def add(self, **arrays: NDArray[Any]) -> None:
        for name, values in arrays.items():
            self.columns.setdefault(name, []).append(values)

    def concatenated(self) -> dict[str, NDArray[Any]]:
        return {name: np.concatenate(parts) for name, parts in self.columns.items()}


@dataclass(frozen=True, slots=True)
class Pathways:
    """Everything the table builders need (rows index the batch's patients)."""

    visit_day: FloatArray  # (patients, visits) days from diagnosis
    visit_line: NDArray[np.int8]  # 0 = diagnosis work-up, k = line k
    visit_in_line: NDArray[np.int16]  # 0 = the line's baseline visit
    visit_measured: BoolArray  # the visit happened (not missed, within follow-up)
    marker: FloatArray  # noiseless disease marker
    tumour: dict[str, FloatArray]  # (patients, max_lines + 1) two-population cell parameters
    exit_day: FloatArray  # end of follow-up (death, loss, cut-off), days from diagnosis
    death_day: FloatArray  # inf = alive at exit
    lines: dict[str, NDArray[Any]]  # per (patient, line)
    treatments: dict[str, NDArray[Any]]  # per treatments row
    antibody_lines: BoolArray  # (patients, max_lines + 1): line has an IgG-kappa antibody
    marker_noise: dict[str, FloatArray]  # the assay noise used for the marker


def _antibody_plans() -> BoolArray:
    antibodies = {"daratumumab", "isatuximab", "elotuzumab"}
    return np.array([bool(antibodies & set(p.drugs)) for p in PLANS])


_PLAN_ANTIBODY = _antibody_plans()


def simulate_pathways(
    patients: Patients, rnd: CohortRandom, settings: SimulationSettings
) -> Pathways:
    """Run every line for every patient of the batch (vectorised across patients)."""
    count = patients.count
    interval = settings.visit_interval_days
    visits = settings.max_follow_up_days // interval + settings.max_lines + 3
    jitter = np.clip(
        np.floor(rnd.normal("visit", visits) * settings.visit_jitter_sd_days + 0.5),
        -settings.visit_jitter_max_days,
        settings.visit_jitter_max_days,
    )
    missed = rnd.uniform("visit", visits) < settings.missed_visit_probability
    noise = {name: rnd.normal("assay", visits) for name in ("spep", "detect", "kappa", "lambda")}

    day = np.full((count, visits), np.inf)
    day[:, 0] = 0.0
    line_at = np.full((count, visits), -1, dtype=np.int8)
    line_at[:, 0] = 0
    in_line = np.zeros((count, visits), dtype=np.int16)
    marker = np.full((count, visits), np.nan)
    marker[:, 0] = patients.marker_at_diagnosis
    # line 0 (the diagnosis work-up) is a flat burden of 1: the cells at diagnosis
    tumour_params = {
        name: np.zeros((count, settings.max_lines + 1))
        for name in ("start", "level", "fraction", "growth", "rate", "regrowth", "days")
    }
    tumour_params["level"][:, 0] = 1.0
    tumour_params["fraction"][:, 0] = 1.0
    tumour_params["days"][:, :] = np.inf
    missed[:, 0] = False

    follow = patients.follow_up_days.astype(np.float64)
    death = np.full(count, np.inf)
    exit_day = np.minimum(follow, patients.lost_day)
    start = patients.first_line_delay.astype(np.float64)
    level = patients.marker_at_diagnosis.copy()
    burden = np.ones(count)
    baseline_visit = np.ones(count, dtype=np.int64)
    started = start < exit_day
    history = History.empty(patients.transplant_eligible, patients.car_t_eligible)
    # burden (relative to diagnosis) past which untreated growth kills within a month; the
    # marker itself never passes the range real patients reach (about 12 g/dL M-protein)
    lethal_level = np.minimum(
        settings.lethal_burden,
        np.where(
            patients.light_chain_only, settings.lethal_flc_mg_l, settings.lethal_m_protein_g_dl
        )
        / patients.marker_at_diagnosis,
    )
    flc_offset = np.where(
        patients.kappa,
        patients.normal_kappa - patients.normal_lambda,
        patients.normal_lambda - patients.normal_kappa,
    )
    antibody_lines = np.zeros((count, settings.max_lines + 1), dtype=bool)
    records = LineRecords()
    rows_out = LineRecords()
    prof = settings.calibration
    column = np.arange(visits)

    for k in range(1, settings.max_lines + 1):
        u = rnd.uniform("line", LINE_UNIFORMS + SCHEDULE_SLOTS)
        z = rnd.normal("line", LINE_NORMALS)
        active = started & (start < exit_day)
        rows = np.nonzero(active)[0]
        if rows.size == 0:
            break
        ur, zr = u[rows], z[rows]
        s = start[rows]

        # --- the care team's choice and its schedule -------------------------------------
        plan = choose_plans(history, k, u[:, 0])[rows]
        antibody_lines[rows, k] = _PLAN_ANTIBODY[plan]
        therapy_days = np.empty(rows.size)
        schedules = []
        for p in np.unique(plan):
            member = np.nonzero(plan == p)[0]
            sched = schedule_plan(
                PLANS[p],
                ur[member, LINE_UNIFORMS:],
                stop_probability=settings.maintenance_stop_probability,
            )
            therapy_days[member] = sched.therapy_days
            schedules.append((int(p), member, sched))

        # --- the line's disease dynamics and its noiseless truth ---------------------------
        model = draw_line_model(
            prof,
            k,
            plan,
            frailty=patients.frailty[rows],
            half_life=patients.half_life_days[rows],
            level=level[rows],
            burden=burden[rows],
            therapy_days=therapy_days,
            deep_u=ur[:, 14],
            z=zr,
        )
        horizon = follow[rows] - s + 30.0  # per patient: never depends on the batch
        truth = line_truth(
            model,
            light_chain=patients.light_chain_only[rows],
            flc_offset=flc_offset[rows],
            horizon=horizon,
        )
        clinical = (ur[:, 1] < settings.clinical_relapse_share) & np.isfinite(truth.imwg_tau)
        clinical_tau = np.where(
            clinical,
            np.floor(np.maximum(truth.imwg_tau + between(-45, 75, ur[:, 2]), truth.nadir_tau + 28)),
            np.inf,
        )
        clinical_kind = np.searchsorted(CLINICAL_SHARES, ur[:, 3], side="right")
        toxicity_tau = np.where(
            ur[:, 4] < settings.toxicity_switch_probability,
            np.floor(between(56, 365, ur[:, 5])),
            np.inf,
        )
        hazard = (
            np.asarray(settings.death_hazard_per_year)[
                min(k, len(settings.death_hazard_per_year)) - 1
            ]
            * np.exp(settings.death_hazard_age_slope * (patients.age[rows] - 68.0))
            / 365.25
        )
        other_death_tau = np.floor(-np.log1p(-ur[:, 6]) / hazard)
        # untreated growth kills soon after the burden passes the lethal level
        lethal_tau = first_time_at_or_above(
            model.tumour, lethal_level[rows], after=truth.regrowth_tau, horizon_days=horizon
        ) + np.floor(between(0, 30, ur[:, 15]))
        death_tau = np.minimum(other_death_tau, lethal_tau)

        # --- lab visits from the line start ------------------------------------------------
        first = int(baseline_visit[rows].min())
        rel = column[first:][None, :] - baseline_visit[rows][:, None]
        fresh = rel >= 0
        sub_day = np.where(
            fresh,
            s[:, None] + interval * rel + np.where(rel == 0, 0.0, jitter[rows, first:]),
            day[rows, first:],
        )
        day[rows, first:] = sub_day
        tau = sub_day - s[:, None]
        sub_marker = np.where(
            fresh, model.paraprotein.at(np.where(fresh, tau, 0.0)), marker[rows, first:]
        )
        marker[rows, first:] = sub_marker
        for name, values in (
            ("start", s),
            ("level", burden[rows]),
            ("fraction", model.fraction),
            ("growth", model.growth),
            ("rate", model.kill),
            ("regrowth", model.regrowth),
            ("days", therapy_days),
        ):
            tumour_params[name][rows, k] = values
        line_at[rows, first:] = np.where(fresh, k, line_at[rows, first:])
        in_line[rows, first:] = np.where(fresh, rel, in_line[rows, first:])
        missed[rows, first:] &= rel != 0

        # --- what the care team sees and when the next line starts -------------------------
        alive_until = np.minimum(exit_day[rows], s + death_tau)
        seen = fresh & ~missed[rows, first:] & (sub_day <= alive_until[:, None])
        scan = scan_labs(
            patients,
            rows,
            seen=seen,
            marker=sub_marker,
            noise=noise,
            first=first,
            baseline_column=baseline_visit[rows] - first,
            settings=settings,
        )
        # the same rule on the noiseless marker at the visits that happened: the best any lab
        # could do with this visit schedule (truth at visit resolution)
        perfect = np.where(
            patients.light_chain_only[rows][:, None],
            np.maximum(flc_offset[rows][:, None] + sub_marker, 0.0),
            sub_marker,
        )
        perfect = np.where(seen, perfect, np.nan)
        perfect_event = np.full(rows.size, -1)
        light_rows = patients.light_chain_only[rows]
        base_column = baseline_visit[rows] - first
        for group, rule in ((~light_rows, P1_SERUM), (light_rows, P3_FLC)):
            members = np.nonzero(group)[0]
            if members.size:
                values = perfect[members]
                perfect_event[members] = first_confirmed_rise(
                    values, values[np.arange(members.size), base_column[members]], rule
                )[0]
        perfect_day = np.where(
            perfect_event >= 0,
            sub_day[np.arange(rows.size), np.maximum(perfect_event, 0)],
            np.inf,
        )
        decision = next_line(
            start=s,
            visit_day=sub_day,
            scan=scan,
            growth=model.growth,
            clinical_tau=clinical_tau,
            toxicity_tau=toxicity_tau,
            u=ur,
            settings=settings,
        )
        t_next, progressed = decision.day, decision.progressed

        last_line = k == settings.max_lines
        dies_at_progression = progressed & (
            (
                ur[:, 11]
                < settings.death_at_progression[min(k, len(settings.death_at_progression)) - 1]
            )
            | last_line
        )
        death_line = s + death_tau
        line_death = np.where(
            death_line < t_next,
            death_line,
            np.where(dies_at_progression, t_next + np.floor(between(0, 120, ur[:, 12])), np.inf),
        )
        death[rows] = line_death
        exit_day[rows] = np.minimum(exit_day[rows], line_death)
        exit_r = exit_day[rows]
        continues = (t_next < exit_r) & ~dies_at_progression & (not last_line)
        line_stop = np.where(continues, t_next, exit_r)
        end_reason = np.where(
            continues,
            0,
            np.where(
                line_death <= exit_r, 1, np.where(patients.lost_day[rows] < follow[rows], 2, 3)
            ),
        )

        # --- treatments rows and the history the next choice sees --------------------------
        end_of = LineEnd(
            start=s,
            continues=continues,
            next_day=t_next,
            stop_gap=np.floor(between(1, 10, ur[:, 13])),
            death=line_death,
            exit=exit_r,
            stop=line_stop,
            progressed=progressed,
            progression_day=decision.progression_day,
        )
        asct_day = np.full(rows.size, np.nan)
        for p, member, sched in schedules:
            record_courses(rows_out, rows, p, member, sched, end_of, history, asct_day)
        history.progressed_on_last[rows] = progressed
        had_asct = ~np.isnan(asct_day)
        history.prior_asct[rows] |= had_asct
        history.asct_remission_days[rows] = np.where(
            had_asct & progressed,
            decision.progression_day - asct_day,
            history.asct_remission_days[rows],
        )

        records.add(
            row=rows,
            line=np.full(rows.size, k),
            plan=plan,
            start=s,
            level=level[rows],
            burden=burden[rows],
            resistant_fraction=model.fraction,
            deep=model.deep,
            resistant_growth=model.growth,
            sensitive_kill=model.kill,
            paraprotein_rate=model.paraprotein.sensitive_rate,
            regrowth=model.regrowth,
            therapy_days=therapy_days,
            nadir_tau=truth.nadir_tau,
            nadir=truth.nadir,
            regrowth_tau=truth.regrowth_tau,
            imwg_tau=truth.imwg_tau,
            imwg_visit_day=perfect_day,
            clinical_tau=clinical_tau,
            clinical_kind=clinical_kind,
            pd_day=decision.measured_progression_day,
            trigger=np.where(continues, decision.trigger, 0),
            progression_trigger=np.where(progressed, decision.trigger, 0),
            next_start=np.where(continues, t_next, np.inf),
            line_stop=line_stop,
            end_reason=end_reason,
            dies_at_progression=dies_at_progression
            | ((lethal_tau <= other_death_tau) & (line_death == s + death_tau)),
            death_day=line_death,
        )

        # --- hand over to the next line -----------------------------------------------------
        elapsed = np.where(continues, t_next - s, 0.0)
        level[rows] = model.paraprotein.at(elapsed)
        burden[rows] = model.tumour.at(elapsed)
        start[rows] = np.where(continues, t_next, np.inf)
        baseline_visit[rows] = first + (sub_day < t_next[:, None]).sum(axis=1)
        started[rows] = continues

    measured = (~missed) & (day <= exit_day[:, None]) & (line_at >= 0)
    return Pathways(
        visit_day=day,
        visit_line=line_at,
        visit_in_line=in_line,
        visit_measured=measured,
        marker=marker,
        tumour=tumour_params,
        exit_day=exit_day,
        death_day=death,
        lines=records.concatenated(),
        treatments=rows_out.concatenated(),
        antibody_lines=antibody_lines,
        marker_noise=noise,
    )
