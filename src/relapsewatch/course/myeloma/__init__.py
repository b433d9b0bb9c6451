"""The multiple myeloma course engine (IMWG 2016; ``shared/domain/myeloma-course.md``).

Start with :func:`derive_course`: canonical frames in, the course out (lines of therapy,
responses, numbered relapses, refractoriness and a status row per patient, each with its
evidence). The steps are public too, for callers that need one part:

* :func:`derive_responses` — IMWG responses, progression, relapse from CR/MRD, CRAB signals, MRD;
* :func:`derive_lines` — lines of therapy (L1–L13);
* :func:`progression_events` and :func:`derive_relapses` — relapse numbering (K1–K4);
* :func:`derive_drug_exposure`, :func:`derive_refractoriness`, :func:`patient_states` — exposure
  and refractoriness (E1–E5, F1–F4);
* :func:`derive_status` — where each patient stands on a date.

The rules each step applies are printable data with their sources: :data:`LINE_RULES`,
:data:`EXPOSURE_RULES`, :data:`REFRACTORY_RULES`, :data:`RELAPSE_RULES` and
:func:`criteria` (response and progression criteria).
"""

from relapsewatch.course.myeloma.config import PRESETS, MyelomaCourseConfig, preset
from relapsewatch.course.myeloma.course import Course, derive_course
from relapsewatch.course.myeloma.exposure import (
    EXPOSURE_RULES,
    derive_drug_exposure,
)
from relapsewatch.course.myeloma.lines import LINE_RULES, Lines, derive_lines
from relapsewatch.course.myeloma.refractory import (
    REFRACTORY_RULES,
    Refractoriness,
    derive_refractoriness,
    patient_states,
)
from relapsewatch.course.myeloma.relapses import (
    RELAPSE_RULES,
    derive_relapses,
    progression_events,
)
from relapsewatch.course.myeloma.responses import ResponseResult, derive_responses
from relapsewatch.course.myeloma.rules import Criteria, criteria
from relapsewatch.course.myeloma.status import derive_status

__all__ = [
    "EXPOSURE_RULES",
    "LINE_RULES",
    "PRESETS",
    "REFRACTORY_RULES",
    "RELAPSE_RULES",
    "Course",
    "Criteria",
    "Lines",
    "MyelomaCourseConfig",
    "Refractoriness",
    "ResponseResult",
    "criteria",
    "derive_course",
    "derive_drug_exposure",
    "derive_lines",
    "derive_refractoriness",
    "derive_relapses",
    "derive_responses",
    "derive_status",
    "patient_states",
    "preset",
    "progression_events",
]
