"""The line-by-line simulation: disease dynamics, lab visits, the care team's decisions.

One loop over *lines* (never over patients): for every patient still followed, line ``k`` draws
its regimen and its two-population parameters, lays out the lab visits from the line start,
computes the noiseless truth (nadir, start of regrowth, IMWG progression) and what the care team
sees (noisy, rounded, with missed visits), and decides when line ``k + 1`` starts: at the
confirmed IMWG progression seen on the labs (or, for some, once a treat criterion also holds),
at a clinical relapse, or after a toxicity switch. Deaths and loss to follow-up end the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.choice import (
    AGENT_INDEX,
    REFRACTORY_WINDOW_DAYS,
    SCHEDULE_SLOTS,
    History,
    choose_plans,
    schedule_plan,
)
from relapsewatch.simulate.dynamics import (
    P1_SERUM,
    P3_FLC,
    ProgressionRule,
    TwoPopulation,
    clearance_limited_rate,
    first_time_at_or_above,
)
from relapsewatch.simulate.markers import measured_flc, measured_spep
from relapsewatch.simulate.population import Patients
from relapsewatch.simulate.randomness import CohortRandom
from relapsewatch.simulate.regimens import PLANS
from relapsewatch.simulate.scan import first_confirmed_rises
from relapsewatch.simulate.settings import SimulationSettings

__all__ = ["TREATMENT_TRIGGERS", "LineRecords", "Pathways", "simulate_pathways"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Why the next line started (index = code in :class:`LineRecords`.trigger; 0 = it did not).
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
_CLINICAL_SHARES = np.array([0.5, 0.9])  # cumulative: 50 % adjudicated, 40 % bone, 10 % soft

#: The care team's treat criteria for a biochemical relapse (IMWG; Freelite book ch. 18).
TREAT_SERUM = ProgressionRule(
    name="treat", source="IMWG treat criteria", absolute=1.0, relative=0.0
)
TREAT_FLC = ProgressionRule(
    name="treat", source="IMWG treat criteria", absolute=200.0, relative=0.0
)

LINE_UNIFORMS = 16
#: Fastest net growth of resistant cells (doubling in about 46 days; terminal disease).
MAX_GROWTH_PER_DAY = 0.015
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


def _between(low: float, high: float, u: FloatArray) -> FloatArray:
    result: FloatArray = low + (high - low) * u
    return result


def _antibody_plans() -> BoolArray:
    antibodies = {"daratumumab", "isatuximab", "elotuzumab"}
    return np.array([bool(antibodies & set(p.drugs)) for p in PLANS])


_PLAN_SHIFT = np.array([p.log10_fraction_shift for p in PLANS])
_PLAN_KILL = np.array([p.kill_factor for p in PLANS])
_PLAN_ANTIBODY = _antibody_plans()


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

        # --- the line's disease dynamics ---------------------------------------------------
        frailty = patients.frailty[rows]
        log10_fraction = (
            prof.log10_resistant_fraction_at(k)
            + _PLAN_SHIFT[plan]
            + prof.frailty_on_fraction * frailty
            + prof.log10_resistant_fraction_sd * zr[:, 0]
        )
        deep_share = np.clip(prof.deep_response_share_at(k) * (1.0 - _PLAN_SHIFT[plan]), 0.0, 0.9)
        deep = ur[:, 14] < deep_share
        log10_fraction = np.where(
            deep,
            prof.deep_log10_resistant_fraction + prof.deep_log10_resistant_fraction_sd * zr[:, 4],
            log10_fraction,
        )
        fraction = np.minimum(10.0**log10_fraction, 1.0)
        growth = np.minimum(
            prof.resistant_growth_at(k)
            * np.exp(prof.frailty_on_growth * frailty + prof.resistant_growth_sd * zr[:, 1]),
            MAX_GROWTH_PER_DAY,
        )
        kill = (
            -prof.sensitive_kill_at(k)
            * _PLAN_KILL[plan]
            * np.exp(prof.sensitive_kill_sd * zr[:, 2])
        )
        regrowth = growth * np.exp(0.2 * zr[:, 3])
        half_life = patients.half_life_days[rows]
        paraprotein = TwoPopulation(
            level[rows],
            fraction,
            growth,
            clearance_limited_rate(kill, half_life),
            regrowth,
            therapy_days,
        )
        tumour = TwoPopulation(burden[rows], fraction, growth, kill, regrowth, therapy_days)

        # --- truth: nadir, regrowth, IMWG progression on the noiseless series --------------
        nadir_tau = paraprotein.minimum_time()
        nadir = paraprotein.at(nadir_tau)
        regrowth_tau = tumour.minimum_time()
        light = patients.light_chain_only[rows]
        offset = np.where(
            patients.kappa[rows],
            patients.normal_kappa[rows] - patients.normal_lambda[rows],
            patients.normal_lambda[rows] - patients.normal_kappa[rows],
        )
        flc_nadir = np.maximum(offset + nadir, 0.0)
        threshold = np.where(light, P3_FLC.threshold(flc_nadir) - offset, P1_SERUM.threshold(nadir))
        horizon = follow[rows] - s + 30.0  # per patient: never depends on the batch
        imwg_tau = first_time_at_or_above(
            paraprotein, threshold, after=nadir_tau, horizon_days=horizon
        )

        clinical = (ur[:, 1] < settings.clinical_relapse_share) & np.isfinite(imwg_tau)
        clinical_tau = np.where(
            clinical,
            np.floor(np.maximum(imwg_tau + _between(-45, 75, ur[:, 2]), nadir_tau + 28)),
            np.inf,
        )
        clinical_kind = np.searchsorted(_CLINICAL_SHARES, ur[:, 3], side="right")
        toxicity_tau = np.where(
            ur[:, 4] < settings.toxicity_switch_probability,
            np.floor(_between(56, 365, ur[:, 5])),
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
        # untreated growth kills: death soon after the burden passes a lethal multiple of the
        # burden at diagnosis (keeps the marker in the range real patients reach)
        lethal_tau = first_time_at_or_above(
            tumour,
            lethal_level[rows],
            after=regrowth_tau,
            horizon_days=horizon,
        ) + np.floor(_between(0, 30, ur[:, 15]))
        death_tau = np.minimum(other_death_tau, lethal_tau)

        # --- lab visits from the line start ------------------------------------------------
        first = int(baseline_visit[rows].min())
        cols = column[first:]
        rel = cols[None, :] - baseline_visit[rows][:, None]
        fresh = rel >= 0
        sub_day = day[rows, first:]
        sub_day = np.where(
            fresh,
            s[:, None] + interval * rel + np.where(rel == 0, 0.0, jitter[rows, first:]),
            sub_day,
        )
        day[rows, first:] = sub_day
        tau = sub_day - s[:, None]
        sub_marker = np.where(
            fresh, paraprotein.at(np.where(fresh, tau, 0.0)), marker[rows, first:]
        )
        marker[rows, first:] = sub_marker
        for name, values in (
            ("start", s),
            ("level", burden[rows]),
            ("fraction", fraction),
            ("growth", growth),
            ("rate", kill),
            ("regrowth", regrowth),
            ("days", therapy_days),
        ):
            tumour_params[name][rows, k] = values
        line_at[rows, first:] = np.where(fresh, k, line_at[rows, first:])
        in_line[rows, first:] = np.where(fresh, rel, in_line[rows, first:])
        missed[rows, first:] &= rel != 0

        # --- what the care team sees and when the next line starts -------------------------
        alive_until = np.minimum(exit_day[rows], s + death_tau)
        seen = fresh & ~missed[rows, first:] & (sub_day <= alive_until[:, None])
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
            sub_noise = {name: grid[who, first:] for name, grid in noise.items()}
            observed = reader(patients, who, sub_marker[members], sub_noise, settings)
            readings = np.where(seen[members], observed, np.nan)
            base_value = readings[np.arange(members.size), baseline_visit[who] - first]
            (ev, cf), (_, tcf) = first_confirmed_rises(readings, base_value, (rule, treat))
            pd_event[members], pd_confirm[members], treat_confirm[members] = ev, cf, tcf
        index = np.arange(rows.size)
        pd_day = np.where(pd_event >= 0, sub_day[index, np.maximum(pd_event, 0)], np.inf)
        treat_now = (ur[:, 7] < settings.treat_at_confirmed_pd_share) | (
            growth >= np.log(2.0) / settings.treat_doubling_days
        )
        trigger_visit = np.where(treat_now, pd_confirm, treat_confirm)
        t_measured = np.where(
            trigger_visit >= 0,
            sub_day[index, np.maximum(trigger_visit, 0)] + np.floor(_between(7, 28, ur[:, 8])),
            np.inf,
        )
        t_clinical = s + clinical_tau + np.floor(_between(3, 14, ur[:, 9]))
        t_toxicity = s + toxicity_tau + np.floor(_between(7, 28, ur[:, 10]))
        candidates = np.stack([t_measured, t_clinical, t_toxicity], axis=1)
        t_next = candidates.min(axis=1)
        trigger = np.where(np.isfinite(t_next), candidates.argmin(axis=1) + 1, 0)
        trigger = np.where(
            (trigger == 1) & ~treat_now, 2, np.where(trigger >= 2, trigger + 1, trigger)
        )
        progressed = (trigger >= 1) & (trigger <= 3)
        progression_day = np.where(trigger == 3, s + clinical_tau, pd_day)

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
            np.where(dies_at_progression, t_next + np.floor(_between(0, 120, ur[:, 12])), np.inf),
        )
        death[rows] = line_death
        exit_day[rows] = np.minimum(exit_day[rows], line_death)
        exit_r = exit_day[rows]
        continues = (t_next < exit_r) & ~dies_at_progression & ~last_line
        line_stop = np.where(continues, t_next, exit_r)
        end_reason = np.where(
            continues,
            0,
            np.where(
                line_death <= exit_r, 1, np.where(patients.lost_day[rows] < follow[rows], 2, 3)
            ),
        )

        # --- treatments rows and the history the next choice sees --------------------------
        stop_gap = np.floor(_between(1, 10, ur[:, 13]))
        asct_day = np.full(rows.size, np.nan)
        for p, member, sched in schedules:
            _emit_courses(
                rows_out,
                rows,
                p,
                member,
                sched,
                s,
                continues,
                t_next,
                stop_gap,
                line_death,
                exit_r,
                line_stop,
                progressed,
                progression_day,
                history,
                asct_day,
            )
        history.progressed_on_last[rows] = progressed
        had_asct = ~np.isnan(asct_day)
        history.prior_asct[rows] |= had_asct
        history.asct_remission_days[rows] = np.where(
            had_asct & progressed, progression_day - asct_day, history.asct_remission_days[rows]
        )

        records.add(
            row=rows,
            line=np.full(rows.size, k),
            plan=plan,
            start=s,
            level=level[rows],
            burden=burden[rows],
            resistant_fraction=fraction,
            deep=deep,
            resistant_growth=growth,
            sensitive_kill=kill,
            paraprotein_rate=paraprotein.sensitive_rate,
            regrowth=regrowth,
            therapy_days=therapy_days,
            nadir_tau=nadir_tau,
            nadir=nadir,
            regrowth_tau=regrowth_tau,
            imwg_tau=imwg_tau,
            clinical_tau=clinical_tau,
            clinical_kind=clinical_kind,
            pd_day=pd_day,
            trigger=np.where(continues, trigger, 0),
            progression_trigger=np.where(progressed, trigger, 0),
            next_start=np.where(continues, t_next, np.inf),
            line_stop=line_stop,
            end_reason=end_reason,
            dies_at_progression=dies_at_progression
            | ((lethal_tau <= other_death_tau) & (line_death == s + death_tau)),
            death_day=line_death,
        )

        # --- hand over to the next line -----------------------------------------------------
        elapsed = np.where(continues, t_next - s, 0.0)
        level[rows] = paraprotein.at(elapsed)
        burden[rows] = tumour.at(elapsed)
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


def _emit_courses(
    out: LineRecords,
    rows: IntArray,
    plan: int,
    member: IntArray,
    sched: object,
    s: FloatArray,
    continues: BoolArray,
    t_next: FloatArray,
    stop_gap: FloatArray,
    death: FloatArray,
    exit_r: FloatArray,
    line_stop: FloatArray,
    progressed: BoolArray,
    progression_day: FloatArray,
    history: History,
    asct_day: FloatArray,
) -> None:
    """Write one plan group's treatments rows and update exposure and refractoriness."""
    from relapsewatch.simulate.choice import Schedule

    assert isinstance(sched, Schedule)
    courses = PLANS[plan].courses
    m = member
    begin = s[m][:, None] + sched.start
    planned_end = s[m][:, None] + sched.end
    stop = line_stop[m][:, None]
    given = begin < stop
    switch_end = (t_next[m] - stop_gap[m])[:, None]
    end = np.where(continues[m][:, None], np.minimum(planned_end, switch_end), planned_end)
    died = (death[m] <= exit_r[m])[:, None]
    end = np.where(died, np.minimum(end, np.minimum(t_next[m], death[m])[:, None]), end)
    end = np.where(end > exit_r[m][:, None], np.nan, end)  # ongoing at the last contact
    end = np.where(np.isnan(end) | (end >= begin), end, begin)
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
            np.maximum(last_dose, s[m] + sched.acting_end[:, c])
            if course.persists is not None
            else last_dose
        )
        refractory = (
            keep
            & progressed[m]
            & (begin[:, c] <= progression_day[m])
            & (window_end >= progression_day[m] - REFRACTORY_WINDOW_DAYS)
        )
        history.refractory[rows[m[refractory]], agent] = True
