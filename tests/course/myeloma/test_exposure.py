"""Drug and class exposure and composite flags (spec §2.4, E1–E5)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import d, treatments

from relapsewatch.course.myeloma.exposure import (
    COMPOSITES,
    composite_conditions,
    derive_drug_exposure,
    exposure_conditions,
)

# Ex-7: VRd 2022-11-07, Kd 2024-01-02, DPd 2024-08-26, teclistamab 2025-03-17.
EX7 = [
    ("VRd", "2022-11-07", "2023-06-20"),
    ("Kd", "2024-01-02", "2024-06-18"),
    ("DPd", "2024-08-26", "2025-03-10"),
    ("teclistamab", "2025-03-17", "2025-03-17"),
]


def conditions(rows) -> dict[str, str]:
    t = treatments(rows)
    atomic = exposure_conditions(derive_drug_exposure(t), t)
    every = pl.concat([atomic, composite_conditions(atomic)])
    return {r["condition"]: r["since"].isoformat() for r in every.iter_rows(named=True)}


def test_exposure_starts_at_the_first_dose_in_any_line():
    got = conditions(EX7)
    assert got["bortezomib_exposed"] == "2022-11-07"
    assert got["lenalidomide_exposed"] == "2022-11-07"
    assert got["carfilzomib_exposed"] == "2024-01-02"
    assert got["pomalidomide_exposed"] == "2024-08-26"


def test_triple_class_and_penta_exposed_from_the_last_component():
    # Ex-7: triple-class and penta-exposed from 2024-08-26 (daratumumab + pomalidomide).
    got = conditions(EX7)
    assert got["triple_class_exposed"] == "2024-08-26"
    assert got["penta_exposed"] == "2024-08-26"
    assert got["imid_exposed"] == got["pi_exposed"] == "2022-11-07"
    assert got["anti_cd38_exposed"] == "2024-08-26"


def test_bcma_bispecific_is_prior_bcma_but_not_bcma_car_t():
    got = conditions(EX7)
    assert got["prior_bcma"] == "2025-03-17"
    assert "prior_bcma_car_t" not in got and "prior_gprc5d" not in got


def test_bcma_car_t_and_gprc5d_conditions():
    got = conditions(
        [
            ("ciltacabtagene autoleucel", "2024-05-01", "2024-05-01"),
            ("talquetamab", "2024-09-01", "2024-09-01"),
        ]
    )
    assert got["prior_bcma_car_t"] == got["prior_bcma"] == "2024-05-01"
    assert got["prior_gprc5d"] == "2024-09-01"


def test_composite_needs_every_component():
    # Ex-3 style: DVRd has all three classes; without carfilzomib and pomalidomide no penta.
    got = conditions([("DVRd", "2024-03-01", "2024-10-25")])
    assert got["triple_class_exposed"] == "2024-03-01"
    assert "penta_exposed" not in got


def test_celmods_are_not_imids_and_supportive_care_is_not_exposure():
    got = conditions(
        [("iberdomide", "2024-01-01", None), ("zoledronic acid", "2024-01-01", "2024-01-01")]
    )
    assert "imid_exposed" not in got
    assert got["celmod_exposed"] == "2024-01-01"
    exposure = derive_drug_exposure(treatments([("zoledronic acid", "2024-01-01", "2024-01-01")]))
    assert exposure.is_empty()


def test_last_dose_is_null_while_ongoing_and_flags_never_revert():
    t = treatments([("lenalidomide", "2023-02-01", "2023-05-10")])
    exposure = derive_drug_exposure(t)
    assert exposure.select("first_dose", "last_dose").row(0) == (d("2023-02-01"), d("2023-05-10"))
    # Stopping a drug does not end its exposure flag (E5).
    assert (
        conditions([("lenalidomide", "2023-02-01", "2023-05-10")])["lenalidomide_exposed"]
        == "2023-02-01"
    )


def test_prior_asct_from_the_first_autologous_transplant():
    got = conditions(
        [("VRd", "2023-02-01", "2023-05-10"), ("autologous_transplant", "2023-07-11", "2023-07-11")]
    )
    assert got["prior_asct"] == "2023-07-11"


def test_composite_evidence_lists_each_component_with_its_date():
    t = treatments(EX7)
    atomic = exposure_conditions(derive_drug_exposure(t), t)
    tce = composite_conditions(atomic).filter(pl.col("condition") == "triple_class_exposed")
    assert tce["evidence"].item() == (
        "imid_exposed since 2022-11-07; pi_exposed since 2022-11-07; "
        "anti_cd38_exposed since 2024-08-26"
    )


def test_composites_cover_the_spec_definitions():
    names = {c.name for c in COMPOSITES}
    assert names == {
        "triple_class_exposed",
        "triple_class_refractory",
        "double_refractory",
        "penta_exposed",
        "penta_refractory",
        "quad_refractory",
    }
