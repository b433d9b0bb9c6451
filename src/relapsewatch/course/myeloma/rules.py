"""The IMWG 2016 response, progression and relapse criteria as named, printable data.

Each :class:`Rule` has the identifier used in the specification (``P1``, ``R-VGPR``, ``C2``), a
one-line statement in plain words with the thresholds of the configuration filled in, its source
(paper and section) and the exact :class:`Threshold` objects the engine compares against. The
engine modules (``timepoint``, ``progression``, ``events``, ``mrd``) read their thresholds from
these rules, so the printed list is the list that is evaluated. ``docs/criteria.md`` is generated
from :func:`criteria_markdown`.

>>> from relapsewatch.course.myeloma.config import MyelomaCourseConfig
>>> rules = criteria(MyelomaCourseConfig())
>>> str(rules["P1"].threshold("rise"))
'rise over the nadir ≥ 0.5 g/dL'
>>> rules["R-VGPR"].anchor
'r-vgpr'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exact import Op, exact_fraction, micro, symbol

__all__ = ["DECISIONS", "Criteria", "Rule", "Threshold", "criteria", "criteria_markdown"]

KUMAR_2016 = "Kumar et al., Lancet Oncol 2016;17:e328 (IMWG 2016)"
DURIE_2006 = "Durie et al., Leukemia 2006;20:1467 (IMWG 2006)"
RAJKUMAR_2011 = "Rajkumar et al., Blood 2011;117:4691 (IMWG 2011)"
ADMIRALONCO = "pharmaverse admiralonco, vignette adrs_imwg (derive_confirmed_response)"
SPEC = "relapsewatch myeloma-course specification"


def _number(value: Fraction) -> str:
    """A threshold as a person writes it (``Fraction(1, 2)`` → ``0.5``, ``25`` → ``25``)."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text


@dataclass(frozen=True, slots=True)
class Threshold:
    """One exact comparison of a rule: ``quantity op value unit``."""

    quantity: str
    op: Op
    value: Fraction
    unit: str

    @property
    def micro(self) -> int:
        """The value in integer micro-units (for absolute thresholds)."""
        return micro(self.value)

    def __str__(self) -> str:
        unit = "" if not self.unit else (self.unit if self.unit == "%" else f" {self.unit}")
        return f"{self.quantity} {symbol(self.op)} {_number(self.value)}{unit}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A named clinical rule with its source and thresholds."""

    id: str
    group: str
    title: str
    statement: str
    source: str
    thresholds: tuple[tuple[str, Threshold], ...] = ()
    note: str = ""
    evaluated: bool = True

    @property
    def anchor(self) -> str:
        """The link anchor in ``docs/criteria.md`` (``R-VGPR`` → ``r-vgpr``)."""
        return re.sub(r"[^a-z0-9-]", "", self.id.lower())

    def threshold(self, name: str) -> Threshold:
        """The threshold called ``name``; a missing name is a programming error."""
        for key, value in self.thresholds:
            if key == name:
                return value
        known = ", ".join(key for key, _ in self.thresholds) or "none"
        raise KeyError(f"rule {self.id} has no threshold {name!r}; it has: {known}")

    def __str__(self) -> str:
        return f"{self.id} {self.title}: {self.statement} [{self.source}]"


@dataclass(frozen=True, slots=True)
class Criteria(Mapping[str, Rule]):
    """The ordered rule set for one configuration, indexed by rule id."""

    rules: tuple[Rule, ...]
    _index: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r.id: r for r in self.rules})

    def __getitem__(self, key: str) -> Rule:
        return self._index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self.rules)


def _n(value: float | int) -> str:
    """A configured number as written (``1.0`` → ``1``, ``0.5`` → ``0.5``)."""
    return _number(exact_fraction(value))


def _t(quantity: str, op: Op, value: float | int, unit: str) -> Threshold:
    return Threshold(quantity, op, exact_fraction(value), unit)


def criteria(config: MyelomaCourseConfig) -> Criteria:
    """Every rule of spec §1 (plus the §5/§7 decisions the engine applies), thresholds from
    ``config``."""
    c = config
    low, high = _n(c.flc_ratio_low), _n(c.flc_ratio_high)
    ratio_normal = (
        ("ratio_low", _t("κ/λ ratio", ">=", c.flc_ratio_low, "")),
        ("ratio_high", _t("κ/λ ratio", "<=", c.flc_ratio_high, "")),
    )
    cr_marrow = _t("latest bone-marrow plasma cells", "<", c.cr_marrow_pct, "%")
    rules: list[Rule] = [
        # --- assessments and baseline -------------------------------------------------------
        Rule(
            "A-28",
            "assessment",
            "One assessment per visit",
            f"Results of different tests taken within ±{c.assessment_tolerance_days} days are one "
            "assessment, dated at the serum M-protein (SPEP) date, else at the free light chain "
            "date; a urine or marrow result with neither nearby is an assessment of its own.",
            f"{SPEC} §7 A-28 (local default)",
        ),
        Rule(
            "A-29",
            "assessment",
            "Same-day duplicates",
            "Two results of one test on one day count once: the worse value is used (the data "
            "carry no result time) and the assessment is flagged duplicate_same_day.",
            f"{SPEC} §7 A-29; {ADMIRALONCO} (worst response per date)",
        ),
        Rule(
            "U7",
            "assessment",
            "Detected but not quantifiable",
            "A result such as '<0.1' or 'trace' is detected_nonquantifiable, never 0; it counts "
            "as not measurable for VGPR (a), enters the nadir as 0 and is flagged.",
            f"{SPEC} §5.1 U7 and §7 A-13",
        ),
        Rule(
            "M1",
            "baseline",
            "Line baseline",
            f"The baseline of a test for a line is its latest value in the {c.baseline_window_days}"
            f" days up to the line start; if none, the earliest value in the "
            f"{c.baseline_lookahead_days} days after it.",
            f"{SPEC} §1.3 M1 and §7 A-5 (IMWG gives no window)",
        ),
        Rule(
            "M2",
            "baseline",
            "Measurable serum M-protein",
            f"Serum is measurable if the baseline M-protein is ≥ "
            f"{_n(c.measurable_serum_g_dl)} g/dL.",
            f"{KUMAR_2016}, measurable disease; {SPEC} §7 A-14",
            (("serum", _t("baseline serum M-protein", ">=", c.measurable_serum_g_dl, "g/dL")),),
        ),
        Rule(
            "M3",
            "baseline",
            "Measurable urine M-protein",
            f"Urine is measurable if the baseline 24-hour urine M-protein is ≥ "
            f"{_n(c.measurable_urine_mg_24h)} mg/24h.",
            f"{KUMAR_2016}, measurable disease",
            (("urine", _t("baseline urine M-protein", ">=", c.measurable_urine_mg_24h, "mg/24h")),),
        ),
        Rule(
            "M4",
            "baseline",
            "Measurable free light chains",
            f"Free light chains are measurable if the involved chain is ≥ "
            f"{_n(c.measurable_flc_mg_l)} mg/L and the κ/λ ratio is below {low} "
            f"(λ involved) or above {high} (κ involved); the involved chain is fixed for the line.",
            f"{KUMAR_2016}, measurable disease; {RAJKUMAR_2011}",
            (
                (
                    "involved",
                    _t("baseline involved free light chain", ">=", c.measurable_flc_mg_l, "mg/L"),
                ),
                ("lambda", _t("baseline κ/λ ratio", "<", c.flc_ratio_low, "")),
                ("kappa", _t("baseline κ/λ ratio", ">", c.flc_ratio_high, "")),
            ),
        ),
        Rule(
            "M5",
            "baseline",
            "Tracking pathway",
            "The pathway is fixed at line start: serum_urine if M2 or M3 holds, else flc_only if "
            f"M4 holds, else marrow_only if baseline marrow plasma cells are ≥ "
            f"{_n(c.measurable_marrow_pct)} %, else not_evaluable (every "
            "assessment NE).",
            f"{SPEC} §1.3 M5; {RAJKUMAR_2011} (FLC-only disease)",
            (("marrow", _t("baseline marrow plasma cells", ">=", c.measurable_marrow_pct, "%")),),
        ),
        Rule(
            "M6",
            "baseline",
            "Involved compartments",
            "In serum_urine, serum or urine is involved if its baseline value is above 0 or its "
            "immunofixation is positive; urine measured as 0 or negative is not involved (its "
            "conditions count as met unless a later value contradicts them); urine never measured "
            "at baseline is unknown (A-9).",
            f"{SPEC} §1.3 M6",
        ),
        # --- time-point response -------------------------------------------------------------
        Rule(
            "R-sCR",
            "response",
            "Stringent complete response",
            f"CR, and a normal κ/λ ratio ({low}–{high}), and clonality of the marrow plasma cells "
            "reported as not clonal.",
            f"{KUMAR_2016}, response table; {DURIE_2006}",
            ratio_normal,
        ),
        Rule(
            "R-CR",
            "response",
            "Complete response",
            "Serum and urine immunofixation negative, no soft-tissue plasmacytoma recorded in the "
            f"line, and the latest marrow in the line up to {c.marrow_cr_after_confirm_days} days "
            f"after the confirming assessment has < {_n(c.cr_marrow_pct)} % "
            "plasma cells. An IFE positive only from a therapeutic antibody counts as negative.",
            f"{KUMAR_2016}, response table",
            (("marrow", cr_marrow),),
        ),
        Rule(
            "R-VGPR",
            "response",
            "Very good partial response",
            "Serum and urine M-protein not detectable on electrophoresis (immunofixation may be "
            f"positive), or serum M-protein down ≥ {_n(c.vgpr_serum_reduction_pct)} "
            f"% and urine M-protein < {_n(c.vgpr_urine_mg_24h)} mg/24h.",
            f"{KUMAR_2016}, response table",
            (
                (
                    "serum",
                    _t(
                        "fall of serum M-protein from baseline",
                        ">=",
                        c.vgpr_serum_reduction_pct,
                        "%",
                    ),
                ),
                ("urine", _t("urine M-protein", "<", c.vgpr_urine_mg_24h, "mg/24h")),
            ),
        ),
        Rule(
            "R-PR",
            "response",
            "Partial response",
            f"Serum M-protein down ≥ {_n(c.pr_serum_reduction_pct)} % (if serum is "
            f"involved) and, if urine is involved, urine M-protein down ≥ "
            f"{_n(c.pr_urine_reduction_pct)} % or < "
            f"{_n(c.pr_urine_mg_24h)} mg/24h.",
            f"{KUMAR_2016}, response table",
            (
                (
                    "serum",
                    _t(
                        "fall of serum M-protein from baseline", ">=", c.pr_serum_reduction_pct, "%"
                    ),
                ),
                (
                    "urine_fall",
                    _t(
                        "fall of urine M-protein from baseline", ">=", c.pr_urine_reduction_pct, "%"
                    ),
                ),
                ("urine", _t("urine M-protein", "<", c.pr_urine_mg_24h, "mg/24h")),
            ),
        ),
        Rule(
            "R-MR",
            "response",
            "Minimal response",
            f"Serum M-protein down ≥ {_n(c.mr_serum_reduction_pct)} % and, if urine "
            f"is involved, urine M-protein down ≥ {_n(c.mr_urine_reduction_pct)} %."
            + ("" if c.include_mr else " Switched off: MR is reported as SD (include_mr=False)."),
            f"{KUMAR_2016}, response table; {RAJKUMAR_2011}; {SPEC} §7 A-2",
            (
                (
                    "serum",
                    _t(
                        "fall of serum M-protein from baseline", ">=", c.mr_serum_reduction_pct, "%"
                    ),
                ),
                (
                    "urine_fall",
                    _t(
                        "fall of urine M-protein from baseline", ">=", c.mr_urine_reduction_pct, "%"
                    ),
                ),
            ),
        ),
        Rule(
            "R-SD",
            "response",
            "Stable disease",
            "None of the responses above and not progressive disease; needs no confirmation.",
            f"{KUMAR_2016}, response table",
        ),
        Rule(
            "R-PR-FLC",
            "response",
            "Partial response, light-chain-only disease",
            f"In flc_only, the involved-minus-uninvolved difference (dFLC) down ≥ "
            f"{_n(c.flc_pr_reduction_pct)} %.",
            f"{RAJKUMAR_2011}, FLC-only criteria",
            (("dflc", _t("fall of dFLC from baseline", ">=", c.flc_pr_reduction_pct, "%")),),
        ),
        Rule(
            "R-VGPR-FLC",
            "response",
            "Very good partial response, light-chain-only disease",
            f"In flc_only, dFLC down more than {_n(c.flc_vgpr_reduction_pct)} %.",
            f"{RAJKUMAR_2011}, FLC-only criteria",
            (("dflc", _t("fall of dFLC from baseline", ">", c.flc_vgpr_reduction_pct, "%")),),
        ),
        Rule(
            "R-CR-FLC",
            "response",
            "Complete response, light-chain-only disease",
            f"In flc_only, R-CR and a normal κ/λ ratio ({low}–{high}). There is no MR in this "
            "pathway.",
            f"{RAJKUMAR_2011}, FLC-only criteria",
            ratio_normal,
        ),
        Rule(
            "R-sCR-FLC",
            "response",
            "Stringent complete response, light-chain-only disease",
            "In flc_only, R-CR-FLC and marrow plasma cells reported as not clonal.",
            f"{RAJKUMAR_2011}, FLC-only criteria",
        ),
        Rule(
            "R-PR-BM",
            "response",
            "Partial response, marrow-only disease",
            f"In marrow_only, marrow plasma cells down ≥ "
            f"{_n(c.marrow_pr_reduction_pct)} % from a baseline ≥ "
            f"{_n(c.measurable_marrow_pct)} %. No VGPR or MR in this pathway.",
            f"{KUMAR_2016}, response table (marrow-only disease)",
            (
                (
                    "marrow",
                    _t(
                        "fall of marrow plasma cells from baseline",
                        ">=",
                        c.marrow_pr_reduction_pct,
                        "%",
                    ),
                ),
            ),
        ),
        Rule(
            "R-CR-BM",
            "response",
            "Complete response, marrow-only disease",
            f"In marrow_only, R-CR and a normal κ/λ ratio ({low}–{high}).",
            f"{KUMAR_2016}, response table",
            ratio_normal,
        ),
        Rule(
            "A-9",
            "response",
            "Urine not measured",
            "If urine was never measured at baseline (or has no value in the line), serum alone "
            f"gives up to PR, flagged urine_unassessed; VGPR needs a urine value < "
            f"{_n(c.vgpr_urine_mg_24h)} mg/24h at or before the assessment; CR "
            "always needs a negative urine immunofixation.",
            f"{SPEC} §7 A-9",
        ),
        Rule(
            "A-10",
            "response",
            "CR needs a marrow",
            (
                "Without a marrow result the response is capped at VGPR and flagged "
                "cr_unconfirmed_marrow."
                if c.require_marrow_for_cr
                else "Switched off: CR is allowed without a marrow result "
                "(require_marrow_for_cr=False)."
            ),
            f"{SPEC} §7 A-10; CIBMTR (downgrade when a critical data point is missing)",
        ),
        Rule(
            "A-11",
            "response",
            "dFLC never negative",
            "dFLC = involved − uninvolved light chain, clamped at 0.",
            f"{SPEC} §7 A-11",
        ),
        Rule(
            "U6",
            "response",
            "Therapeutic antibody interference",
            "A DIRA/Hydrashift result overrides the serum immunofixation; otherwise a positive "
            "serum immunofixation in an IgG-κ patient exposed to an anti-CD38 or anti-SLAMF7 "
            f"antibody in the previous {c.antibody_interference_days} days is indeterminate: it "
            "caps the response at VGPR, is flagged antibody_interference_possible and never "
            "triggers relapse from CR.",
            f"{SPEC} §5.1 U6 and §7 A-16; van de Donk et al., Clin Chem Lab Med 2016;54:1105",
        ),
        # --- confirmation ------------------------------------------------------------------
        Rule(
            "C1",
            "confirmation",
            "Two assessments",
            "Every category except SD needs two consecutive assessments before new therapy; a "
            "same-day duplicate is one assessment; marrow and imaging results need no "
            "confirmation.",
            f"{DURIE_2006}; {KUMAR_2016}; {ADMIRALONCO}",
        ),
        Rule(
            "C2",
            "confirmation",
            "Confirming a response",
            "The next assessment that is not NE, dated no later than the next line start, "
            "confirms: the same or better keeps the category; a lower response or SD gives that "
            "category; PD, no assessment, or one after the new line start gives SD. A gap of more "
            f"than {c.confirmation_warn_days} days is flagged confirmation_late.",
            f"{ADMIRALONCO}; {SPEC} §7 A-6",
        ),
        Rule(
            "C3",
            "confirmation",
            "Confirming progression",
            "PD is confirmed if the next assessment (even after a new line starts) is also PD "
            "against the same nadir, or the PD is by imaging (or marrow), or the patient died of "
            "myeloma before another assessment"
            + (
                ", or (option A-8) new treatment started before another assessment"
                if c.accept_treatment_change_as_confirmation
                else ""
            )
            + ". Otherwise it is pd_unconfirmed, not an event, and its confirmed value is NE.",
            f"{DURIE_2006}; {KUMAR_2016}; {ADMIRALONCO}; {SPEC} §7 A-8",
        ),
        Rule(
            "C4",
            "confirmation",
            "Running confirmed response",
            "The confirmed response over time is the running best of the confirmed categories; "
            "confirmed PD is absorbing for the rest of the line.",
            f"{ADMIRALONCO}",
        ),
        Rule(
            "C5",
            "confirmation",
            "Event date",
            "A confirmed response or PD is dated at the first assessment of the confirming pair.",
            f"{ADMIRALONCO}; {SPEC} §7 A-7",
        ),
        Rule(
            "C6",
            "confirmation",
            "Best confirmed response",
            "The best confirmed response of a line is the best confirmed category from the line "
            "start to the earlier of the next line start and the confirmed PD date "
            "(sCR > CR > VGPR > PR > MR > SD > PD > NE).",
            f"{ADMIRALONCO} (CBOR); {SPEC} §1.5",
        ),
        # --- nadir -------------------------------------------------------------------------
        Rule(
            "N1",
            "nadir",
            "Confirmed nadir",
            (
                "The nadir in force at a date is the lower of the baseline and every "
                "max(value, next "
                "value) over consecutive measurements in the line before that date: a single low "
                "value becomes the nadir only once the next one confirms it."
                if c.nadir_mode == "confirmed_pair"
                else "Not used: nadir_mode is raw_min (N2)."
            ),
            f"{KUMAR_2016} ('lowest confirmed response value'); {SPEC} §7 A-3",
        ),
        Rule(
            "N2",
            "nadir",
            "Raw minimum nadir (option)",
            "The nadir is the lower of the baseline and every earlier value in the line"
            + (" (in use)." if c.nadir_mode == "raw_min" else " (option nadir_mode=raw_min)."),
            f"{SPEC} §1.6 N2",
        ),
        Rule(
            "N3",
            "nadir",
            "Nadir per line",
            "The nadir resets at each new line; the new baseline is the line baseline (M1). Marrow "
            "plasma cells use the raw minimum because marrow results need no confirmation (C1).",
            f"{SPEC} §1.6 N3 and §7 A-4",
        ),
        Rule(
            "N4",
            "nadir",
            "Unquantifiable values in the nadir",
            "Values reported below the quantitation limit enter the nadir as 0.",
            f"{SPEC} §1.6 N4 and §7 A-13",
        ),
        # --- progression -------------------------------------------------------------------
        Rule(
            "P1",
            "progression",
            "Serum M-protein rise",
            f"If the nadir is ≥ {_n(c.pd_serum_high_nadir_g_dl)} g/dL, a rise ≥ "
            f"{_n(c.pd_serum_high_abs_g_dl)} g/dL; otherwise a rise ≥ "
            f"{_n(c.pd_serum_abs_g_dl)} g/dL and ≥ "
            f"{_n(c.pd_serum_rel_pct)} % over the nadir.",
            f"{KUMAR_2016}, progressive disease; {DURIE_2006} (≥ 5 g/dL rule)",
            (
                ("high_nadir", _t("nadir", ">=", c.pd_serum_high_nadir_g_dl, "g/dL")),
                ("high_rise", _t("rise over the nadir", ">=", c.pd_serum_high_abs_g_dl, "g/dL")),
                ("rise", _t("rise over the nadir", ">=", c.pd_serum_abs_g_dl, "g/dL")),
                ("relative", _t("rise relative to the nadir", ">=", c.pd_serum_rel_pct, "%")),
            ),
        ),
        Rule(
            "P2",
            "progression",
            "Urine M-protein rise",
            f"A rise ≥ {_n(c.pd_urine_abs_mg_24h)} mg/24h and ≥ "
            f"{_n(c.pd_urine_rel_pct)} % over the nadir.",
            f"{KUMAR_2016}, progressive disease",
            (
                ("rise", _t("rise over the nadir", ">=", c.pd_urine_abs_mg_24h, "mg/24h")),
                ("relative", _t("rise relative to the nadir", ">=", c.pd_urine_rel_pct, "%")),
            ),
        ),
        Rule(
            "P3",
            "progression",
            "Free light chain rise (flc_only)",
            f"In flc_only, dFLC rises by more than {_n(c.pd_flc_abs_mg_l)} mg/L and "
            f"≥ {_n(c.pd_flc_rel_pct)} % over the nadir.",
            f"{KUMAR_2016}, progressive disease; {RAJKUMAR_2011}",
            (
                ("rise", _t("rise over the nadir", ">", c.pd_flc_abs_mg_l, "mg/L")),
                ("relative", _t("rise relative to the nadir", ">=", c.pd_flc_rel_pct, "%")),
            ),
        ),
        Rule(
            "P4",
            "progression",
            "Marrow plasma cell rise (marrow_only)",
            f"In marrow_only, marrow plasma cells rise ≥ {_n(c.pd_marrow_abs_pct)} "
            f"percentage points and ≥ {_n(c.pd_marrow_rel_pct)} % over the nadir; "
            "needs no confirmation (C1).",
            f"{KUMAR_2016}, progressive disease",
            (
                ("rise", _t("rise over the nadir", ">=", c.pd_marrow_abs_pct, "points")),
                ("relative", _t("rise relative to the nadir", ">=", c.pd_marrow_rel_pct, "%")),
            ),
        ),
        Rule(
            "P5",
            "progression",
            "Imaging progression",
            "A new bone lesion, a new plasmacytoma or a recorded plasmacytoma increase (≥ 50 % in "
            "SPD, adjudicated) is PD on its date in any pathway and needs no confirmation.",
            f"{KUMAR_2016}, progressive disease",
        ),
        Rule(
            "P6",
            "progression",
            "Circulating plasma cells",
            "A ≥ 50 % rise with at least 200 cells/µL when this is the only measure.",
            f"{KUMAR_2016}, progressive disease",
            note="Not evaluated: the canonical measurements have no circulating plasma cell test.",
            evaluated=False,
        ),
        Rule(
            "P7",
            "progression",
            "Positive IFE in CR is not PD",
            "A positive immunofixation alone in a patient in CR is relapse from CR (X1), not PD.",
            f"{KUMAR_2016}; {DURIE_2006}",
        ),
        Rule(
            "P8",
            "progression",
            "PD first",
            "PD takes precedence over any fall from baseline on the same date.",
            f"{SPEC} §1.7 P8",
        ),
        # --- other relapse categories --------------------------------------------------------
        Rule(
            "X1",
            "relapse",
            "Relapse from CR",
            "After a confirmed CR or sCR in the line: M-protein back on serum or urine "
            "immunofixation or electrophoresis at two consecutive assessments, or marrow plasma "
            f"cells ≥ {_n(c.relapse_marrow_pct)} %, or a new plasmacytoma or bone "
            "lesion (these need no second test). Dated at the first; not counted as a relapse "
            "number.",
            f"{DURIE_2006}; {KUMAR_2016}",
            (("marrow", _t("marrow plasma cells", ">=", c.relapse_marrow_pct, "%")),),
        ),
        Rule(
            "X2",
            "relapse",
            "Relapse from MRD negativity",
            "After MRD negativity in CR in the line: MRD positive by NGF or NGS, a new lesion on "
            "imaging, M-protein back on immunofixation or electrophoresis (two consecutive "
            f"assessments), or marrow plasma cells ≥ {_n(c.relapse_marrow_pct)} % "
            "not reported as not clonal.",
            f"{KUMAR_2016}, MRD criteria",
            (("marrow", _t("marrow plasma cells", ">=", c.relapse_marrow_pct, "%")),),
        ),
        Rule(
            "X3",
            "relapse",
            "Candidate CRAB signals",
            f"Calcium > {_n(c.hypercalcaemia_mg_dl)} mg/dL, haemoglobin down ≥ "
            f"{_n(c.haemoglobin_drop_g_dl)} g/dL from the line baseline, creatinine "
            f"up ≥ {_n(c.creatinine_rise_mg_dl)} mg/dL from the line baseline, or a "
            "new or growing bone lesion or plasmacytoma: emitted as candidate signals only; the "
            "care team adjudicates clinical relapse, which is passed through as input.",
            f"{KUMAR_2016}, clinical relapse; {SPEC} §7 A-30",
            (
                ("calcium", _t("calcium", ">", c.hypercalcaemia_mg_dl, "mg/dL")),
                (
                    "haemoglobin",
                    _t("fall of haemoglobin from baseline", ">=", c.haemoglobin_drop_g_dl, "g/dL"),
                ),
                (
                    "creatinine",
                    _t("rise of creatinine from baseline", ">=", c.creatinine_rise_mg_dl, "mg/dL"),
                ),
            ),
            note="Hyperviscosity is not evaluated: the canonical data carry no viscosity test.",
        ),
        # --- MRD ---------------------------------------------------------------------------
        Rule(
            "D1",
            "mrd",
            "Flow MRD-negative",
            "Next-generation flow (NGF) finds no clonal plasma cells at a sensitivity of at least "
            f"{c.mrd_min_sensitivity:g}, in a patient in CR or sCR.",
            f"{KUMAR_2016}, MRD criteria",
            (("sensitivity", _t("sensitivity", "<=", c.mrd_min_sensitivity, "")),),
        ),
        Rule(
            "D2",
            "mrd",
            "Sequencing MRD-negative",
            "Next-generation sequencing (NGS) finds no clonal plasma cells at a sensitivity of at "
            f"least {c.mrd_min_sensitivity:g}, in a patient in CR or sCR.",
            f"{KUMAR_2016}, MRD criteria",
            (("sensitivity", _t("sensitivity", "<=", c.mrd_min_sensitivity, "")),),
        ),
        Rule(
            "D3",
            "mrd",
            "Imaging-plus-MRD-negative",
            "D1 or D2 plus disappearance of every PET/CT area of increased uptake.",
            f"{KUMAR_2016}, MRD criteria",
            note="Not evaluated: the canonical data carry no PET/CT result.",
            evaluated=False,
        ),
        Rule(
            "D4",
            "mrd",
            "Sustained MRD-negative",
            f"Marrow MRD-negative (D1/D2) again at least {c.mrd_sustained_days} days later "
            "with the "
            "same method and sensitivity and no positive result between; reported as sustained "
            "marrow MRD negativity because the imaging part needs PET/CT data the canonical tables "
            "do not carry.",
            f"{KUMAR_2016}, MRD criteria",
        ),
        Rule(
            "D5",
            "mrd",
            "Sensitivity kept",
            "Every MRD result keeps its method and sensitivity; negatives at different "
            "sensitivities (1e-5, 1e-6) are never pooled.",
            f"{KUMAR_2016}; Krzywdzińska et al., Acta Haematol Pol 2023;54:113",
        ),
    ]
    return Criteria(tuple(rules))


#: Choices the engine makes where the specification leaves one open (beyond its §7 list).
DECISIONS: tuple[tuple[str, str], ...] = (
    (
        "Assessment anchors (A-28)",
        "Every serum M-protein date is an assessment of its own, even 4 days from the next one; "
        "free light chain dates anchor only when no serum M-protein is within the tolerance; a "
        "result between two anchors joins the nearer, the later on a tie; a lone immunofixation "
        "or clonality result supports nothing and is left out; a lone urine or marrow result is an "
        "assessment of its own (NE when it is not the line's tracked value).",
    ),
    (
        "Which assessments belong to a line",
        "Assessments after the line start (a result on the start day is the baseline) and after a "
        "look-ahead baseline of the tracked test, and before the next line start. An imaging "
        "finding on the day a new line starts belongs to the line before (it is why the treatment "
        "changed); so does an adjudicated clinical relapse on that day.",
    ),
    (
        "NE and the confirming assessment",
        "An assessment is NE when it lacks the pathway's tracked value (serum M-protein when serum "
        "is involved, else urine; both light chains; marrow plasma cells) and meets no PD "
        "criterion. The confirming assessment of C2/C3 is the next assessment that is not NE; for "
        "a PD it may be the first one after the next line start (checked against this line's "
        "nadir).",
    ),
    (
        "Urine involved but not measured in the line",
        "Treated like A-9: serum alone gives up to PR, flagged urine_unassessed; VGPR needs a "
        "urine "
        "value below 100 mg/24h at or before the assessment. Urine values carry forward within the "
        "line.",
    ),
    (
        "Marrow results",
        "Marrow plasma cells use the raw-minimum nadir and PD by marrow (P4) needs no second "
        "assessment, because marrow results need no confirmation (C1). The marrow for CR is the "
        "latest one from the line start to 30 days after the confirming assessment, so a marrow "
        "taken at the confirming visit counts.",
    ),
    (
        "PD criteria per pathway",
        "Serum and urine rises (P1, P2) count in every lab pathway (a new M-spike is PD in light-"
        "chain or marrow-only disease too); P3 only in flc_only, P4 only in marrow_only; in "
        "not_evaluable only imaging (P5) gives PD.",
    ),
    (
        "PD after the line's confirmed PD",
        "Later PD assessments of the same line stand as PD (C4, absorbing) and are flagged "
        "after_progression, not pd_unconfirmed; the progression table lists the first confirmed PD "
        "of each line only.",
    ),
    (
        "Death and PD confirmation (C3)",
        "A death finding confirms a pending PD when no assessment follows and its cause is empty "
        "or "
        "names myeloma, progression or disease (death_of_unknown_cause_confirms_pd=False requires "
        "the cause).",
    ),
    (
        "The latest response of an ongoing line",
        "C2 confirms it as SD (nothing follows); it is also flagged awaiting_confirmation.",
    ),
    (
        "Therapeutic antibody interference (U6)",
        "Applies to serum immunofixation only (the antibodies are IgG-κ and not filtered into "
        "urine); a small serum M-spike under daratumumab is not suppressed.",
    ),
    (
        "Relapse from CR and MRD (X1, X2)",
        "Evaluated per line after the first confirmed CR (or MRD negativity in CR) of that line; "
        "immunofixation or electrophoresis signs need the next assessment to show a sign too, "
        "marrow and imaging signs do not; hypercalcaemia is only a candidate CRAB signal (X3); for "
        "X2 a marrow with ≥ 5 % plasma cells counts unless its clonality is recorded not clonal, "
        "and MRD negativity must be an IMWG MRD-negative result in CR (D1/D2).",
    ),
    (
        "Best response of a line without evaluable assessments",
        "NE, with evaluable_assessments 0; first_response_date is the first confirmed MR or "
        "better.",
    ),
    (
        "Not evaluated for want of data in the canonical tables",
        "The plasmacytoma SPD clauses of PR and MR (no SPD measurements), P6 circulating plasma "
        "cells, D3 and the imaging half of D4 (no PET/CT results), hyperviscosity (X3), the "
        "IgA/IgD substitution of A-15 (no quantitative immunoglobulins) and lab-specific or "
        "renal FLC ranges of A-27 (no reference ranges): Freelite 0.26–1.65 is always used.",
    ),
    (
        "VGPR urine value (A-9)",
        "The urine value below 100 mg/24h must be dated at or before the assessment itself (the "
        "specification allows up to the confirming assessment); a value at the confirming "
        "assessment then makes that assessment VGPR.",
    ),
    (
        "Same-day duplicates (A-29)",
        "The data carry no result time, so the worse value is always kept.",
    ),
)


def criteria_markdown(config: MyelomaCourseConfig) -> str:
    """The rule list as Markdown, one section per rule with its anchor (``docs/criteria.md``)."""
    groups = {
        "assessment": "Assessments",
        "baseline": "Baseline and measurable disease (M)",
        "response": "Time-point response (R)",
        "confirmation": "Confirmation and best response (C)",
        "nadir": "Nadir (N)",
        "progression": "Progressive disease (P)",
        "relapse": "Relapse other than PD (X)",
        "mrd": "Minimal residual disease (D)",
    }
    rules = criteria(config)
    lines = [
        "# IMWG 2016 response criteria as the engine applies them",
        "",
        "Generated from `relapsewatch.course.myeloma.rules.criteria_markdown()` with the "
        f"`{config.name}` settings; regenerate it after changing a rule. Rule ids follow "
        "`shared/domain/myeloma-course.md`. Thresholds are compared exactly (integer "
        "micro-units, percentages by cross-multiplication; see `course/myeloma/exact.py`).",
        "",
    ]
    for group, heading in groups.items():
        lines += [f"## {heading}", ""]
        for rule in rules.values():
            if rule.group != group:
                continue
            lines += [
                f'<a id="{rule.anchor}"></a>',
                "",
                f"### {rule.id}: {rule.title}",
                "",
                rule.statement,
                "",
            ]
            if rule.thresholds:
                lines.append("Thresholds: " + "; ".join(str(t) for _, t in rule.thresholds) + ".")
                lines.append("")
            if rule.note:
                lines += [f"Note: {rule.note}", ""]
            lines += [f"Source: {rule.source}.", ""]
    lines += ["## Decisions beyond the specification's §7", ""]
    for title, text in DECISIONS:
        lines += [f"* **{title}.** {text}"]
    return "\n".join(lines).rstrip() + "\n"
