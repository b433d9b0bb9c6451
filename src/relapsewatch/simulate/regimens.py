"""Care pathways as data: the plans a simulated care team chooses from, line by line.

Each :class:`Plan` is a named sequence of phases (induction, mobilisation, transplant, maintenance,
…) and drug courses, with the eligibility rules of ``shared/domain/treatment-options.yaml`` (same
regimen ids, same ``requires``/``excludes`` condition names) and a relative preference per line.
First-line plans follow current guideline practice (transplant-eligible: a triplet or quadruplet
induction, mobilisation, melphalan 200 mg/m² and autologous transplant, lenalidomide-based
maintenance; transplant-ineligible: continuous DRd, VRd then Rd, D-VMP, Isa-VRd, Rd).

``log10_fraction_shift`` and ``kill_factor`` say how deep a plan's responses go compared with the
line's centre (negative shift: fewer resistant cells). They are modelling assumptions, ordered
as the trials order the regimens, and are reported in ``docs/simulation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "AGENTS",
    "PLANS",
    "Course",
    "Phase",
    "Plan",
]

#: Drugs whose exposure and refractoriness the simulated care team tracks, with their classes.
AGENTS: Final[dict[str, tuple[str, ...]]] = {
    "thalidomide": ("imid",),
    "lenalidomide": ("imid",),
    "pomalidomide": ("imid",),
    "bortezomib": ("pi",),
    "carfilzomib": ("pi",),
    "ixazomib": ("pi",),
    "daratumumab": ("anti_cd38",),
    "isatuximab": ("anti_cd38",),
    "elotuzumab": ("anti_slamf7",),
    "selinexor": ("xpo1",),
    "belantamab mafodotin": ("bcma",),
    "teclistamab": ("bcma", "bispecific"),
    "elranatamab": ("bcma", "bispecific"),
    "linvoseltamab": ("bcma", "bispecific"),
    "talquetamab": ("gprc5d", "bispecific"),
    "ciltacabtagene autoleucel": ("bcma", "car_t"),
    "idecabtagene vicleucel": ("bcma", "car_t"),
    "melphalan": ("alkylator",),
    "cyclophosphamide": ("alkylator",),
}

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Phase:
    """A step of a plan: starts ``gap`` days after the end of ``after`` (or the line start).

    ``length`` is a day range; ``None`` means the phase runs until the line ends.
    """

    name: str
    after: str | None
    gap: Range
    length: Range | None


@dataclass(frozen=True, slots=True)
class Course:
    """One treatments row: a drug or procedure given during a phase.

    ``length`` overrides the phase length (e.g. bortezomib for 8 cycles inside a continuous
    regimen); ``may_stop`` marks continuous maintenance that some patients stop in remission;
    ``persists`` is how long a single infusion keeps acting (CAR-T cells persist for months).
    """

    therapy: str
    phase: str
    intent: str | None = None
    length: Range | None = None
    may_stop: bool = False
    persists: Range | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A regimen or treatment pathway and when a care team would choose it."""

    id: str
    label: str
    phases: tuple[Phase, ...]
    courses: tuple[Course, ...]
    weights: tuple[float, float, float, float]  # preference at lines 1, 2, 3, >=4
    requires: tuple[str | tuple[str, ...], ...] = ()  # a tuple inside means "any of"
    excludes: tuple[str, ...] = ()
    min_prior_lines: int = 1
    max_prior_lines: int | None = None
    log10_fraction_shift: float = 0.0
    kill_factor: float = 1.0
    transplant: bool = False
    source: str = "treatment-options.yaml"
    options_id: str | None = field(default=None)  # the treatment-options.yaml id, if any

    @property
    def drugs(self) -> tuple[str, ...]:
        """Distinct therapies of the plan, in the order first given."""
        return tuple(dict.fromkeys(c.therapy for c in self.courses))


def _continuous(*drugs: str) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    phases = (Phase("treatment", None, (0, 0), None),)
    return phases, tuple(Course(d, "treatment") for d in drugs)


def _with_fixed(
    continuous: tuple[str, ...], fixed: tuple[str, ...], days: Range
) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    phases = (Phase("treatment", None, (0, 0), None),)
    courses = tuple(Course(d, "treatment") for d in continuous)
    courses += tuple(Course(d, "treatment", length=days) for d in fixed)
    return phases, courses


def _transplant(
    induction: tuple[str, ...], maintenance: tuple[str, ...], *, consolidation: tuple[str, ...] = ()
) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    """Induction, mobilisation, apheresis, melphalan conditioning, ASCT, maintenance (one line)."""
    phases = [
        Phase("induction", None, (0, 0), (84, 168)),
        Phase("mobilisation", "induction", (14, 35), (0, 0)),
        Phase("growth_factor", "mobilisation", (1, 2), (8, 10)),
        Phase("apheresis", "mobilisation", (9, 12), (0, 0)),
        Phase("conditioning", "apheresis", (21, 60), (0, 0)),
        Phase("transplant", "conditioning", (1, 2), (0, 0)),
    ]
    courses = [Course(d, "induction") for d in induction]
    courses += [
        Course("cyclophosphamide", "mobilisation", "mobilisation"),
        Course("filgrastim", "growth_factor", "mobilisation"),
        Course("apheresis", "apheresis"),
        Course("melphalan", "conditioning", "conditioning"),
        Course("autologous_transplant", "transplant", persists=(60, 120)),
    ]
    after = "transplant"
    if consolidation:
        phases.append(Phase("consolidation", "transplant", (60, 90), (42, 56)))
        courses += [Course(d, "consolidation", "consolidation") for d in consolidation]
        after = "consolidation"
    gap: Range = (14, 28) if consolidation else (90, 110)
    phases.append(Phase("maintenance", after, gap, None))
    courses += [Course(d, "maintenance", "maintenance", may_stop=True) for d in maintenance]
    return tuple(phases), tuple(courses)


def _induction_then(
    induction: tuple[str, ...],
    days: Range,
    continuation: tuple[str, ...],
) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    phases = (
        Phase("induction", None, (0, 0), days),
        Phase("continuation", "induction", (1, 7), None),
    )
    courses = tuple(Course(d, "induction") for d in induction)
    courses += tuple(Course(d, "continuation", "maintenance", may_stop=True) for d in continuation)
    return phases, courses


def _bispecific(drug: str) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    """Step-up doses on days 1, 3 and 5, then weekly dosing (spec L5f: one line)."""
    phases = (
        Phase("step_up_1", None, (0, 0), (0, 0)),
        Phase("step_up_2", "step_up_1", (2, 2), (0, 0)),
        Phase("step_up_3", "step_up_2", (2, 2), (0, 0)),
        Phase("treatment", "step_up_3", (3, 3), None),
    )
    courses = tuple(Course(drug, f"step_up_{i}", "step_up") for i in (1, 2, 3))
    return phases, (*courses, Course(drug, "treatment"))


def _bispecific_with(drug: str, partner: str) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    phases, courses = _bispecific(drug)
    return (
        (*phases, Phase("antibody", None, (0, 0), None)),
        (*courses, Course(partner, "antibody")),
    )


def _car_t(product: str) -> tuple[tuple[Phase, ...], tuple[Course, ...]]:
    """Apheresis, bridging, lymphodepletion, infusion (spec L12: the line starts at apheresis)."""
    phases = (
        Phase("apheresis", None, (0, 0), (0, 0)),
        Phase("bridging", "apheresis", (2, 7), (21, 35)),
        Phase("lymphodepletion", "bridging", (1, 3), (2, 2)),
        Phase("infusion", "lymphodepletion", (2, 2), (0, 0)),
    )
    courses = (
        Course("apheresis", "apheresis"),
        Course("dexamethasone", "bridging", "bridging"),
        Course("fludarabine", "lymphodepletion", "conditioning"),
        Course("cyclophosphamide", "lymphodepletion", "conditioning"),
        Course(product, "infusion", persists=(240, 540)),
        Course("car_t_infusion", "infusion"),
    )
    return phases, courses


def _plan(
    id: str,
    label: str,
    shape: tuple[tuple[Phase, ...], tuple[Course, ...]],
    weights: tuple[float, float, float, float],
    **kwargs: object,
) -> Plan:
    phases, courses = shape
    return Plan(id=id, label=label, phases=phases, courses=courses, weights=weights, **kwargs)  # type: ignore[arg-type]


_VRD = ("bortezomib", "lenalidomide", "dexamethasone")
_FIRST_LINE = {"min_prior_lines": 0, "max_prior_lines": 0}
_ELIGIBLE = {"requires": ("transplant_eligible",), "transplant": True}
_INELIGIBLE = {"requires": ("transplant_ineligible",)}

#: Every plan, first-line plans first. Weights are relative preferences among eligible plans.
PLANS: Final[tuple[Plan, ...]] = (
    # --- first line, transplant-eligible (IFM 2009, PERSEUS, GMMG-HD7, CASSIOPEIA, FORTE) ------
    _plan(
        "vrd_asct",
        "VRd, ASCT, lenalidomide maintenance",
        _transplant(_VRD, ("lenalidomide",)),
        (40, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=-0.35,
        kill_factor=1.2,
        source="IFM 2009 / DETERMINATION",
    ),
    _plan(
        "dvrd_asct",
        "D-VRd, ASCT, D-R maintenance",
        _transplant(
            ("daratumumab", *_VRD),
            ("daratumumab", "lenalidomide"),
            consolidation=("daratumumab", *_VRD),
        ),
        (30, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=-0.9,
        kill_factor=1.3,
        source="PERSEUS",
    ),
    _plan(
        "krd_asct",
        "KRd, ASCT, lenalidomide maintenance",
        _transplant(("carfilzomib", "lenalidomide", "dexamethasone"), ("lenalidomide",)),
        (8, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=-0.6,
        kill_factor=1.3,
        source="FORTE",
    ),
    _plan(
        "vtd_asct",
        "VTd, ASCT, lenalidomide maintenance",
        _transplant(("bortezomib", "thalidomide", "dexamethasone"), ("lenalidomide",)),
        (8, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=-0.2,
        kill_factor=1.1,
        source="IFM2013-04; EU practice",
    ),
    _plan(
        "dvtd_asct",
        "D-VTd, ASCT, lenalidomide maintenance",
        _transplant(
            ("daratumumab", "bortezomib", "thalidomide", "dexamethasone"), ("lenalidomide",)
        ),
        (8, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=-0.6,
        kill_factor=1.3,
        source="CASSIOPEIA",
    ),
    _plan(
        "vcd_asct",
        "VCd, ASCT, lenalidomide maintenance",
        _transplant(("bortezomib", "cyclophosphamide", "dexamethasone"), ("lenalidomide",)),
        (6, 0, 0, 0),
        **_FIRST_LINE,
        **_ELIGIBLE,
        log10_fraction_shift=0.0,
        kill_factor=1.0,
        source="EU/UK practice",
    ),
    # --- first line, transplant-ineligible (MAIA, SWOG S0777, ALCYONE, IMROZ, FIRST) -----------
    _plan(
        "drd_continuous",
        "DRd until progression",
        _continuous("daratumumab", "lenalidomide", "dexamethasone"),
        (40, 0, 0, 0),
        **_FIRST_LINE,
        **_INELIGIBLE,
        log10_fraction_shift=-0.25,
        kill_factor=1.1,
        source="MAIA",
    ),
    _plan(
        "vrd_then_rd",
        "VRd (8 cycles), then Rd until progression",
        _induction_then(_VRD, (161, 175), ("lenalidomide", "dexamethasone")),
        (25, 0, 0, 0),
        **_FIRST_LINE,
        **_INELIGIBLE,
        log10_fraction_shift=0.05,
        source="SWOG S0777",
    ),
    _plan(
        "isavrd_then_isard",
        "Isa-VRd, then Isa-Rd until progression",
        _induction_then(
            ("isatuximab", *_VRD), (224, 238), ("isatuximab", "lenalidomide", "dexamethasone")
        ),
        (10, 0, 0, 0),
        **_FIRST_LINE,
        **_INELIGIBLE,
        log10_fraction_shift=-0.45,
        kill_factor=1.2,
        source="IMROZ",
    ),
    _plan(
        "dvmp",
        "D-VMP (9 cycles), then daratumumab until progression",
        _induction_then(
            ("daratumumab", "bortezomib", "melphalan", "prednisone"), (371, 385), ("daratumumab",)
        ),
        (10, 0, 0, 0),
        **_FIRST_LINE,
        **_INELIGIBLE,
        log10_fraction_shift=0.0,
        source="ALCYONE",
    ),
    _plan(
        "rd_continuous",
        "Rd until progression",
        _continuous("lenalidomide", "dexamethasone"),
        (15, 0, 0, 0),
        **_FIRST_LINE,
        **_INELIGIBLE,
        log10_fraction_shift=0.45,
        kill_factor=0.9,
        source="FIRST",
    ),
    # --- relapse (treatment-options.yaml ids; requires/excludes copied from it) -----------------
    _plan(
        "drd",
        "DRd",
        _continuous("daratumumab", "lenalidomide", "dexamethasone"),
        (0, 30, 8, 3),
        excludes=("lenalidomide_refractory", "anti_cd38_refractory"),
        log10_fraction_shift=-0.35,
        options_id="drd",
    ),
    _plan(
        "dvd",
        "DVd",
        _with_fixed(("daratumumab", "dexamethasone"), ("bortezomib",), (161, 175)),
        (0, 12, 6, 3),
        excludes=("anti_cd38_refractory", "bortezomib_refractory"),
        log10_fraction_shift=-0.2,
        options_id="dvd",
    ),
    _plan(
        "dkd",
        "DKd",
        _continuous("daratumumab", "carfilzomib", "dexamethasone"),
        (0, 14, 10, 5),
        excludes=("anti_cd38_refractory",),
        log10_fraction_shift=-0.3,
        kill_factor=1.1,
        options_id="dkd",
    ),
    _plan(
        "isakd",
        "Isa-Kd",
        _continuous("isatuximab", "carfilzomib", "dexamethasone"),
        (0, 10, 8, 4),
        excludes=("anti_cd38_refractory",),
        log10_fraction_shift=-0.35,
        kill_factor=1.1,
        options_id="isakd",
    ),
    _plan(
        "krd",
        "KRd",
        _with_fixed(("lenalidomide", "dexamethasone"), ("carfilzomib",), (497, 511)),
        (0, 8, 4, 2),
        excludes=("lenalidomide_refractory",),
        log10_fraction_shift=-0.2,
        options_id="krd",
    ),
    _plan(
        "kd",
        "Kd",
        _continuous("carfilzomib", "dexamethasone"),
        (0, 6, 6, 4),
        excludes=("carfilzomib_refractory",),
        log10_fraction_shift=0.1,
        options_id="kd",
    ),
    _plan(
        "dpd",
        "DPd",
        _continuous("daratumumab", "pomalidomide", "dexamethasone"),
        (0, 12, 12, 6),
        requires=("lenalidomide_exposed", "pi_exposed"),
        excludes=("anti_cd38_refractory", "pomalidomide_refractory"),
        log10_fraction_shift=-0.2,
        options_id="dpd",
    ),
    _plan(
        "isapd",
        "Isa-Pd",
        _continuous("isatuximab", "pomalidomide", "dexamethasone"),
        (0, 0, 8, 6),
        requires=("lenalidomide_exposed", "pi_exposed"),
        excludes=("anti_cd38_refractory", "pomalidomide_refractory"),
        min_prior_lines=2,
        log10_fraction_shift=-0.2,
        options_id="isapd",
    ),
    _plan(
        "elopd",
        "Elo-Pd",
        _continuous("elotuzumab", "pomalidomide", "dexamethasone"),
        (0, 0, 3, 3),
        requires=("lenalidomide_exposed", "pi_exposed"),
        excludes=("pomalidomide_refractory",),
        min_prior_lines=2,
        log10_fraction_shift=0.05,
        options_id="elopd",
    ),
    _plan(
        "pd",
        "Pd",
        _continuous("pomalidomide", "dexamethasone"),
        (0, 0, 3, 4),
        requires=("lenalidomide_exposed", "pi_exposed"),
        excludes=("pomalidomide_refractory",),
        min_prior_lines=2,
        log10_fraction_shift=0.35,
        kill_factor=0.9,
        options_id="pd",
    ),
    _plan(
        "pvd",
        "PVd",
        _with_fixed(("pomalidomide", "dexamethasone"), ("bortezomib",), (161, 175)),
        (0, 5, 5, 3),
        requires=("lenalidomide_exposed",),
        excludes=("pomalidomide_refractory", "bortezomib_refractory"),
        log10_fraction_shift=0.0,
        options_id="pvd",
    ),
    _plan(
        "svd",
        "SVd",
        _continuous("selinexor", "bortezomib", "dexamethasone"),
        (0, 3, 4, 4),
        excludes=("bortezomib_refractory",),
        log10_fraction_shift=0.1,
        options_id="svd",
    ),
    _plan(
        "vd",
        "Vd",
        _continuous("bortezomib", "dexamethasone"),
        (0, 3, 2, 2),
        excludes=("bortezomib_refractory",),
        log10_fraction_shift=0.4,
        kill_factor=0.9,
        options_id="vd",
    ),
    _plan(
        "rd",
        "Rd",
        _continuous("lenalidomide", "dexamethasone"),
        (0, 3, 1, 1),
        excludes=("lenalidomide_refractory",),
        log10_fraction_shift=0.4,
        kill_factor=0.9,
        options_id="rd",
    ),
    _plan(
        "ird",
        "IRd",
        _continuous("ixazomib", "lenalidomide", "dexamethasone"),
        (0, 4, 2, 1),
        excludes=("lenalidomide_refractory",),
        log10_fraction_shift=0.05,
        options_id="ird",
    ),
    _plan(
        "elord",
        "Elo-Rd",
        _continuous("elotuzumab", "lenalidomide", "dexamethasone"),
        (0, 2, 1, 1),
        excludes=("lenalidomide_refractory",),
        log10_fraction_shift=0.05,
        options_id="elord",
    ),
    _plan(
        "bvd",
        "BVd",
        _with_fixed(("belantamab mafodotin", "dexamethasone"), ("bortezomib",), (161, 175)),
        (0, 4, 4, 3),
        excludes=(
            "daratumumab_refractory",
            "bortezomib_refractory",
            "prior_bcma",
            "corneal_disease",
        ),
        log10_fraction_shift=-0.4,
        options_id="bvd",
    ),
    _plan(
        "bpd",
        "BPd",
        _continuous("belantamab mafodotin", "pomalidomide", "dexamethasone"),
        (0, 3, 3, 2),
        requires=("lenalidomide_exposed",),
        excludes=("prior_bcma", "pomalidomide_refractory", "corneal_disease"),
        log10_fraction_shift=-0.4,
        options_id="bpd",
    ),
    _plan(
        "teclistamab_daratumumab",
        "Tec-Dara",
        _bispecific_with("teclistamab", "daratumumab"),
        (0, 3, 3, 2),
        requires=("pi_exposed", "imid_exposed"),
        excludes=("anti_cd38_refractory", "prior_bcma"),
        log10_fraction_shift=-0.9,
        kill_factor=1.3,
        options_id="teclistamab_daratumumab",
    ),
    _plan(
        "teclistamab",
        "Teclistamab",
        _bispecific("teclistamab"),
        (0, 0, 0, 14),
        requires=("triple_class_exposed", "progressed_on_last_therapy"),
        min_prior_lines=3,
        log10_fraction_shift=-0.7,
        kill_factor=1.3,
        options_id="teclistamab",
    ),
    _plan(
        "elranatamab",
        "Elranatamab",
        _bispecific("elranatamab"),
        (0, 0, 0, 8),
        requires=("triple_class_exposed", "progressed_on_last_therapy"),
        min_prior_lines=3,
        log10_fraction_shift=-0.7,
        kill_factor=1.3,
        options_id="elranatamab",
    ),
    _plan(
        "linvoseltamab",
        "Linvoseltamab",
        _bispecific("linvoseltamab"),
        (0, 0, 0, 3),
        requires=("triple_class_exposed", "progressed_on_last_therapy"),
        min_prior_lines=3,
        log10_fraction_shift=-0.7,
        kill_factor=1.3,
        options_id="linvoseltamab",
    ),
    _plan(
        "talquetamab",
        "Talquetamab",
        _bispecific("talquetamab"),
        (0, 0, 0, 6),
        requires=("triple_class_exposed", "progressed_on_last_therapy"),
        min_prior_lines=3,
        log10_fraction_shift=-0.6,
        kill_factor=1.2,
        options_id="talquetamab",
    ),
    _plan(
        "cilta_cel",
        "Cilta-cel",
        _car_t("ciltacabtagene autoleucel"),
        (0, 5, 8, 10),
        requires=("lenalidomide_refractory", "pi_exposed", "imid_exposed", "car_t_eligible"),
        excludes=("prior_bcma",),
        log10_fraction_shift=-1.3,
        kill_factor=1.5,
        options_id="cilta_cel",
    ),
    _plan(
        "ide_cel",
        "Ide-cel",
        _car_t("idecabtagene vicleucel"),
        (0, 0, 3, 4),
        requires=("triple_class_exposed", "car_t_eligible"),
        excludes=("prior_bcma",),
        min_prior_lines=2,
        log10_fraction_shift=-0.9,
        kill_factor=1.4,
        options_id="ide_cel",
    ),
    _plan(
        "xd",
        "Selinexor-dexamethasone",
        _continuous("selinexor", "dexamethasone"),
        (0, 0, 0, 3),
        requires=("penta_refractory", "progressed_on_last_therapy"),
        min_prior_lines=4,
        log10_fraction_shift=0.5,
        kill_factor=0.8,
        options_id="xd",
    ),
    _plan(
        "salvage_asct",
        "Re-induction (Kd) and salvage ASCT",
        _transplant(("carfilzomib", "dexamethasone"), ()),
        (0, 4, 1, 0),
        requires=("transplant_eligible", ("no_prior_asct", "remission_after_prior_asct_ge_18m")),
        log10_fraction_shift=-0.3,
        kill_factor=1.2,
        transplant=True,
        options_id="salvage_asct",
    ),
    # --- fallback when nothing else fits (older salvage chemotherapy; not in the options file) -
    _plan(
        "cyclophosphamide_dex",
        "Cyclophosphamide and dexamethasone",
        _continuous("cyclophosphamide", "dexamethasone"),
        (0, 0.5, 1, 3),
        log10_fraction_shift=0.6,
        kill_factor=0.8,
        source="salvage practice (fallback)",
    ),
)
