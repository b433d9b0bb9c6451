"""Tests of the drug vocabulary (spec §2.3 classes and names, §2.5 L5 lists, §2.4 E4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from relapsewatch.errors import VocabularyError
from relapsewatch.vocab import drugs
from relapsewatch.vocab.drugs import (
    DRUG_CLASSES,
    DRUGS,
    REGIMENS,
    normalise_therapy_key,
    resolve_therapies,
    suggest_therapies,
)

SHARED = Path(__file__).parents[2].parent / "shared"
OPTIONS_YAML = SHARED / "domain" / "treatment-options.yaml"


def components(name: str) -> list[str | None]:
    """The therapies a reported name resolves to, in component order."""
    return resolve_therapies(pl.Series([name])).sort("component")["therapy"].to_list()


def keys(values: list[str]) -> list[str]:
    series = pl.Series(values, dtype=pl.String)
    return pl.select(normalise_therapy_key(pl.lit(series))).to_series().to_list()


# --- brands, short names, forms ------------------------------------------------------------------
BRANDS = {
    "Revlimid": "lenalidomide", "Velcade": "bortezomib", "Kyprolis": "carfilzomib",
    "Darzalex": "daratumumab", "Darzalex Faspro": "daratumumab", "Sarclisa": "isatuximab",
    "Pomalyst": "pomalidomide", "Imnovid": "pomalidomide", "Thalomid": "thalidomide",
    "Ninlaro": "ixazomib", "Empliciti": "elotuzumab", "Xpovio": "selinexor",
    "Nexpovio": "selinexor", "Tecvayli": "teclistamab", "Elrexfio": "elranatamab",
    "Talvey": "talquetamab", "Lynozyfic": "linvoseltamab",
    "Carvykti": "ciltacabtagene autoleucel", "Abecma": "idecabtagene vicleucel",
    "Blenrep": "belantamab mafodotin", "Farydak": "panobinostat", "Venclexta": "venetoclax",
    "Venclyxto": "venetoclax", "Pepaxto": "melphalan flufenamide",
    "Pepaxti": "melphalan flufenamide", "Alkeran": "melphalan", "Evomela": "melphalan",
    "Decadron": "dexamethasone", "Zometa": "zoledronic acid", "Xgeva": "denosumab",
    "Aredia": "pamidronate", "Neupogen": "filgrastim", "Neulasta": "pegfilgrastim",
    "Mozobil": "plerixafor", "Cytoxan": "cyclophosphamide",
}  # fmt: skip


@pytest.mark.parametrize(("brand", "generic"), BRANDS.items())
def test_brand_name_maps_to_its_generic(brand: str, generic: str) -> None:
    assert components(brand) == [generic]
    assert components(brand.upper()) == [generic]


SHORT_NAMES = {
    "dex": "dexamethasone", "dara": "daratumumab", "dara SC": "daratumumab",
    "isa": "isatuximab", "elo": "elotuzumab", "pom": "pomalidomide", "len": "lenalidomide",
    "bort": "bortezomib", "carf": "carfilzomib", "cyclo": "cyclophosphamide",
    "cy": "cyclophosphamide", "mel": "melphalan", "pred": "prednisone",
    "acyclovir": "aciclovir", "aciclovir": "aciclovir", "valacyclovir": "valaciclovir",
    "IVIG": "immune globulin", "ondansetron": "ondansetron",
    "cilta-cel": "ciltacabtagene autoleucel",
}  # fmt: skip


@pytest.mark.parametrize(("name", "generic"), SHORT_NAMES.items())
def test_short_name_or_spelling_variant_maps_to_its_generic(name: str, generic: str) -> None:
    assert components(name) == [generic]


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("daratumumab and hyaluronidase", "daratumumab"),
        ("daratumumab SC", "daratumumab"),
        ("SC daratumumab", "daratumumab"),
        ("Daratumumab IV", "daratumumab"),
        ("bortezomib subcutaneous", "bortezomib"),
        ("Bortezomib (SC)", "bortezomib"),
        ("dexamethasone (40 mg weekly)", "dexamethasone"),
        ("oral dexamethasone", "dexamethasone"),
        ("high-dose melphalan", "melphalan"),
    ],
)
def test_route_or_formulation_form_maps_to_the_same_generic(name: str, generic: str) -> None:
    assert components(name) == [generic]


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("daratumumab-fihj", "daratumumab"),
        ("daratumumab and hyaluronidase-fihj", "daratumumab"),
        ("isatuximab-irfc", "isatuximab"),
        ("Teclistamab-CQYV", "teclistamab"),
        ("elranatamab-bcmm", "elranatamab"),
        ("talquetamab-tgvs", "talquetamab"),
        ("belantamab mafodotin-blmf", "belantamab mafodotin"),
        ("linvoseltamab-gcpt", "linvoseltamab"),
        ("elotuzumab-wxyz", "elotuzumab"),  # any four letters after a known antibody stem
        ("filgrastim-sndz", "filgrastim"),  # biosimilars map to the generic
        ("pegfilgrastim-jmdb", "pegfilgrastim"),
        ("denosumab-bbdz", "denosumab"),
    ],
)
def test_us_biologic_suffix_is_stripped(name: str, generic: str) -> None:
    assert components(name) == [generic]


def test_four_letters_that_are_a_known_name_are_not_taken_for_a_suffix() -> None:
    assert components("teclistamab-dara") == ["teclistamab", "daratumumab"]


# --- regimens and combinations ------------------------------------------------------------------
V, R, D, K, P = "bortezomib", "lenalidomide", "dexamethasone", "carfilzomib", "pomalidomide"
DARA, ISA, CY, MEL, T = "daratumumab", "isatuximab", "cyclophosphamide", "melphalan", "thalidomide"
REGIMEN_DRUGS = {
    "VRd": [V, R, D], "RVd": [V, R, D], "VRD": [V, R, D], "D-VRd": [DARA, V, R, D],
    "Dara-VRd": [DARA, V, R, D], "VTd": [V, T, D], "D-VTd": [DARA, V, T, D], "VCd": [V, CY, D],
    "CyBorD": [V, CY, D], "KRd": [K, R, D], "Kd": [K, D], "DKd": [DARA, K, D], "KPd": [K, P, D],
    "DRd": [DARA, R, D], "D-Rd": [DARA, R, D], "DVd": [DARA, V, D], "DPd": [DARA, P, D],
    "Isa-Pd": [ISA, P, D], "IsaPd": [ISA, P, D], "Isa-Kd": [ISA, K, D],
    "IRd": ["ixazomib", R, D], "Elo-Rd": ["elotuzumab", R, D], "EloRd": ["elotuzumab", R, D],
    "Elo-Pd": ["elotuzumab", P, D], "Pd": [P, D], "PVd": [P, V, D], "Rd": [R, D], "Vd": [V, D],
    "SVd": ["selinexor", V, D], "SKd": ["selinexor", K, D], "VMP": [V, MEL, "prednisone"],
    "D-VMP": [DARA, V, MEL, "prednisone"], "MPT": [MEL, "prednisone", T], "Td": [T, D],
    "VDT-PACE": [V, D, T, "cisplatin", "doxorubicin", CY, "etoposide"],
    "DCEP": [D, CY, "etoposide", "cisplatin"],
    "BEAM": ["carmustine", "etoposide", "cytarabine", MEL],
}  # fmt: skip


@pytest.mark.parametrize(("abbreviation", "expected"), REGIMEN_DRUGS.items())
def test_regimen_abbreviation_expands_to_its_drugs_in_order(
    abbreviation: str, expected: list[str]
) -> None:
    assert components(abbreviation) == expected


@pytest.mark.parametrize("spelling", ["VRd", "vrd", "V-Rd", "v rd", " VR-d ", "V–Rd"])
def test_regimen_spelling_ignores_case_spaces_and_hyphens(spelling: str) -> None:
    assert components(spelling) == [V, R, D]


def test_regimen_component_order_and_classes_come_in_columns() -> None:
    frame = resolve_therapies(pl.Series(["VRd"]))
    assert frame.schema == pl.Schema(
        {
            "reported_therapy": pl.String,
            "therapy": pl.String,
            "drug_classes": pl.List(pl.String),
            "component": pl.UInt8,
        }
    )
    assert frame.rows() == [
        ("VRd", V, ["pi"], 0),
        ("VRd", R, ["imid"], 1),
        ("VRd", D, ["steroid"], 2),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("len + dex", [R, D]),
        ("Len/Dex", [R, D]),
        ("lenalidomide and dexamethasone", [R, D]),
        ("Revlimid, Decadron", [R, D]),
        ("Len-Dex", [R, D]),
        ("ide-cel + dex", ["idecabtagene vicleucel", D]),
        ("Dara + VRd", [DARA, V, R, D]),
        ("VRd + dex", [V, R, D]),  # a drug named twice is one component
        ("Pomalyst/Imnovid", [P]),
    ],
)
def test_combination_of_known_names_resolves_to_their_drugs(name: str, expected: list[str]) -> None:
    assert components(name) == expected


@pytest.mark.parametrize("name", ["len + foo", "Revlimd", "xyzzy", "", "+", "placebo"])
def test_unknown_name_resolves_to_one_null_row(name: str) -> None:
    frame = resolve_therapies(pl.Series([name]))
    assert frame.rows() == [(name, None, None, 0)]


def test_null_names_are_not_resolved_and_empty_input_gives_empty_frame() -> None:
    assert resolve_therapies(pl.Series([None, "dex"], dtype=pl.String))["therapy"].to_list() == [D]
    empty = resolve_therapies(pl.Series([], dtype=pl.String))
    assert empty.height == 0
    assert empty.columns == ["reported_therapy", "therapy", "drug_classes", "component"]


def test_one_name_repeated_100k_times_gives_one_row_per_component() -> None:
    frame = resolve_therapies(pl.Series(["D-VRd"] * 100_000 + ["Revlimid"] * 100_000))
    assert frame.height == 5
    assert frame["component"].to_list() == [0, 1, 2, 3, 0]


# --- suggestions --------------------------------------------------------------------------------
def test_misspelt_brand_suggests_the_drug() -> None:
    suggestions = suggest_therapies("Revlimd")
    assert suggestions
    assert components(suggestions[0]) == [R]
    assert drugs.unknown_therapy_message("Revlimd") == (
        "unknown therapy 'Revlimd'; did you mean 'revlimid' (lenalidomide)?"
    )


def test_suggestions_respect_limit_and_name_each_therapy_once() -> None:
    suggestions = suggest_therapies("daratumumb", limit=2)
    assert 1 <= len(suggestions) <= 2
    assert suggestions[0] == "daratumumab"
    resolved = [tuple(components(s)) for s in suggestions]
    assert len(set(resolved)) == len(resolved)


def test_nothing_close_gives_no_suggestion_and_a_message_that_teaches() -> None:
    assert suggest_therapies("qqqqqqqqqq") == []
    message = drugs.unknown_therapy_message("qqqqqqqqqq")
    assert "generic drug name" in message and "autologous_transplant" in message


# --- classes, procedures and the rule lists ----------------------------------------------------
@pytest.mark.parametrize(
    ("drug", "classes"),
    [
        ("teclistamab", {"bcma", "bispecific"}),
        ("elranatamab", {"bcma", "bispecific"}),
        ("linvoseltamab", {"bcma", "bispecific"}),
        ("talquetamab", {"gprc5d", "bispecific"}),
        ("idecabtagene vicleucel", {"bcma", "car_t"}),
        ("ciltacabtagene autoleucel", {"bcma", "car_t"}),
        ("belantamab mafodotin", {"bcma"}),
        ("iberdomide", {"celmod"}),
        ("mezigdomide", {"celmod"}),
        ("fludarabine", {"chemotherapy"}),
        ("daratumumab", {"anti_cd38"}),
    ],
)
def test_drug_has_the_classes_of_spec_2_3(drug: str, classes: set[str]) -> None:
    frame = resolve_therapies(pl.Series([drug]))
    assert set(frame["drug_classes"].item()) == classes


def test_celmods_are_not_imids_by_default() -> None:
    assert drugs.drugs_in_class("imid") == {"thalidomide", "lenalidomide", "pomalidomide"}
    assert drugs.drugs_in_class("celmod") == {"iberdomide", "mezigdomide"}


@pytest.mark.parametrize(
    ("name", "procedure"),
    [
        ("ASCT", "autologous_transplant"),
        ("auto-SCT", "autologous_transplant"),
        ("Autologous stem cell transplant", "autologous_transplant"),
        ("allo-SCT", "allogeneic_transplant"),
        ("stem cell collection", "apheresis"),
        ("Stem cell harvest", "apheresis"),
        ("CAR-T infusion", "car_t_infusion"),
        ("RT", "radiotherapy"),
        ("XRT", "radiotherapy"),
        ("surgery", "surgery"),
    ],
)
def test_procedure_alias_maps_to_the_canonical_procedure(name: str, procedure: str) -> None:
    assert components(name) == [procedure]
    assert DRUGS[procedure].kind == "procedure"
    assert DRUGS[procedure].classes == ("procedure",)


def test_every_class_has_a_drug_and_procedures_match_the_schema() -> None:
    assert all(drugs.drugs_in_class(c) for c in DRUG_CLASSES)
    assert drugs.drugs_in_class("procedure") == set(drugs.PROCEDURES)


def test_unknown_class_or_therapy_is_a_vocabulary_error() -> None:
    with pytest.raises(VocabularyError, match="drug_class must be one of"):
        drugs.drugs_in_class("immunomodulator")
    with pytest.raises(VocabularyError, match="canonical therapy"):
        drugs.is_line_opening("Revlimid")


@pytest.mark.parametrize(
    ("therapy", "opens"),
    [
        ("lenalidomide", True),
        ("daratumumab", True),
        ("melphalan", True),
        ("iberdomide", True),
        ("dexamethasone", False),
        ("zoledronic acid", False),
        ("filgrastim", False),
        ("autologous_transplant", False),
    ],
)
def test_only_anti_myeloma_drugs_that_are_not_steroids_open_a_line(
    therapy: str, opens: bool
) -> None:
    assert drugs.is_line_opening(therapy) is opens


def test_rule_lists_follow_the_spec() -> None:
    # L5d, L5b, L5c, L5e and E4 of shared/domain/myeloma-course.md, written out by hand here.
    maintenance = {
        "lenalidomide", "pomalidomide", "thalidomide", "bortezomib", "ixazomib", "carfilzomib",
        "daratumumab", "isatuximab", "elotuzumab",
    }  # fmt: skip
    assert maintenance == drugs.MAINTENANCE_DRUGS
    assert {"cyclophosphamide", "filgrastim", "plerixafor"} <= drugs.MOBILISATION_DRUGS
    assert {"melphalan", "carmustine", "etoposide", "cytarabine"} <= drugs.CONDITIONING_DRUGS
    assert {"fludarabine", "cyclophosphamide"} == drugs.LYMPHODEPLETION_DRUGS
    assert drugs.PENTA_DRUGS[:4] == ({R}, {P}, {V}, {K})
    assert {DARA, ISA} <= drugs.PENTA_DRUGS[4] == drugs.drugs_in_class("anti_cd38")


# --- the data itself ----------------------------------------------------------------------------
def test_every_name_in_the_vocabulary_resolves_to_its_own_therapy() -> None:
    expected = {
        name: [d.name] for d in DRUGS.values() for name in (d.name, *d.brands, *d.aliases)
    } | {name: list(r.drugs) for r in REGIMENS.values() for name in (r.name, *r.aliases)}
    frame = resolve_therapies(pl.Series(list(expected)))
    got = frame.group_by("reported_therapy").agg(pl.col("therapy").sort_by("component"))
    assert dict(got.iter_rows()) == expected


def test_every_entry_names_its_source_and_the_review_date() -> None:
    assert str(drugs.REVIEWED) == "2026-11-23"
    assert all(d.source for d in DRUGS.values())
    assert all(r.source for r in REGIMENS.values())


# --- treatment-options.yaml ---------------------------------------------------------------------
OPTION_CLASSES = {
    "proteasome_inhibitor": {"pi"}, "corticosteroid": {"steroid"},
    "immunomodulatory_drug": {"imid"}, "anti_cd38_antibody": {"anti_cd38"},
    "anti_slamf7_antibody": {"anti_slamf7"}, "hdac_inhibitor": {"hdac"},
    "xpo1_inhibitor": {"xpo1"}, "bcl2_inhibitor": {"bcl2"},
    "bcma_antibody_drug_conjugate": {"bcma"}, "bcma_cd3_bispecific": {"bcma", "bispecific"},
    "gprc5d_cd3_bispecific": {"gprc5d", "bispecific"}, "bcma_car_t": {"bcma", "car_t"},
    "peptide_drug_conjugate_alkylator": {"alkylator"}, "alkylator_high_dose": {"alkylator"},
    "stem_cell_transplant": {"procedure"},
}  # fmt: skip


def treatment_options() -> list[dict[str, Any]]:
    if not OPTIONS_YAML.exists():
        pytest.skip(f"{OPTIONS_YAML} is absent (the shared specs sit beside the repository)")
    options: list[dict[str, Any]] = yaml.safe_load(OPTIONS_YAML.read_text("utf-8"))
    return [o for o in options if o.get("drugs")]


def test_every_drug_and_regimen_of_treatment_options_resolves() -> None:
    for option in treatment_options():
        named = [t for drug in option["drugs"] for t in components(drug)]
        assert None not in named, (option["id"], option["drugs"], named)
        # "SVd (XVd)" and "Ven-d / VenVd" write alternatives; each must resolve.
        alternatives = str(option["abbreviation"]).replace("(", "/").replace(")", "").split("/")
        expanded = [set(components(a.strip())) for a in alternatives]
        assert all(None not in e for e in expanded), (option["id"], expanded)
        if option["type"] in {"drug_regimen", "cell_therapy"}:
            assert set().union(*expanded) == set(named), option["id"]


def test_classes_of_treatment_options_agree_with_ours() -> None:
    for option in treatment_options():
        theirs = set().union(*(OPTION_CLASSES[c] for c in option["classes"]))
        frame = resolve_therapies(pl.Series(option["drugs"]))
        ours = set(frame.explode("drug_classes")["drug_classes"].to_list())
        assert ours == theirs, option["id"]


# --- the lookup key -----------------------------------------------------------------------------
NAME_CHARACTERS = st.sampled_from([*"abcdeilmnoprstvxyzADMRSV019 \t-_.()/+é", "Ä", "–"])


@given(st.lists(st.text(NAME_CHARACTERS, max_size=24), min_size=1, max_size=20))
def test_key_is_idempotent(names: list[str]) -> None:
    once = keys(names)
    assert keys(once) == once


@given(st.lists(st.text(max_size=16), min_size=1, max_size=20))
def test_key_is_idempotent_on_any_unicode(names: list[str]) -> None:
    once = keys(names)
    assert keys(once) == once


@given(st.lists(st.text(NAME_CHARACTERS, max_size=24), min_size=1, max_size=20))
def test_key_ignores_case_and_extra_whitespace(names: list[str]) -> None:
    spaced = [" \t" + "".join(c + " " if c.isspace() else c for c in n) + "  " for n in names]
    assert keys([n.swapcase() for n in names]) == keys(names)
    assert keys(spaced) == keys(names)
