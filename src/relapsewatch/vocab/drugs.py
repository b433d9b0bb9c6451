"""Drug vocabulary: reported therapy names to canonical generic drugs, procedures and classes.

Source: ``shared/domain/myeloma-course.md`` §2.3 (drug classes; brand names, US suffixes such as
``-fihj``, IV/SC forms and biosimilars normalise to the generic) and §2.5 (the L5 exemption lists).
The names live in ``vocab/data/drugs.yaml``, each with its source; this module loads them once.

A reported name is matched on a key (see :func:`normalise_therapy_key`). A regimen abbreviation
(``VRd``) expands to its drugs; a name that is not known as a whole but is a combination of known
names (``len + dex``, ``Len-Dex``, ``Pomalyst/Imnovid``) resolves to the union of its parts. IV and
SC forms of one molecule share one generic name, which is how rule L5a (route or formulation change
is the same drug) is met.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import polars as pl
import yaml

from relapsewatch import schema
from relapsewatch.errors import ConfigError, VocabularyError, echo

__all__ = [
    "CONDITIONING_DRUGS", "DRUGS", "DRUG_CLASSES", "LINE_OPENING_DRUGS", "LYMPHODEPLETION_DRUGS",
    "MAINTENANCE_DRUGS", "MOBILISATION_DRUGS", "PENTA_DRUGS", "PROCEDURES", "REGIMENS", "REVIEWED",
    "Drug", "Regimen", "drugs_in_class", "is_line_opening", "normalise_therapy_key",
    "resolve_therapies", "suggest_therapies", "unknown_therapy_message",
]  # fmt: skip

#: Drug classes of §2.3, as written in the canonical ``drug_classes`` column.
DRUG_CLASSES: tuple[str, ...] = (
    "imid", "celmod", "pi", "anti_cd38", "anti_slamf7", "bcma", "bispecific", "gprc5d", "car_t",
    "xpo1", "bcl2", "hdac", "alkylator", "chemotherapy", "steroid", "supportive", "procedure",
)  # fmt: skip
#: Procedures that the treatments table records as a therapy (same tuple as the schema's).
PROCEDURES: tuple[str, ...] = schema.PROCEDURES
#: Classes that never open, extend or advance a line (L2; §2.3 "excluded (supportive)").
_NOT_LINE_OPENING = frozenset({"steroid", "supportive", "procedure"})

Kind = Literal["drug", "procedure"]


@dataclass(frozen=True, slots=True)
class Drug:
    """A canonical therapy: a generic drug (lower case) or a procedure, with its classes."""

    name: str
    classes: tuple[str, ...]
    kind: Kind
    brands: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class Regimen:
    """A regimen abbreviation used as a therapy name, with its drugs in the order written."""

    name: str
    drugs: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    source: str = ""


# --- the lookup key -------------------------------------------------------------------------------
_DASHES = "[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]"
_ROUTE = (
    r"(?:s\.?c\.?|subcut(?:aneous)?|subq|sq|i\.?v\.?|intravenous|p\.?o\.?|oral|tablets?|capsules?)"
)
# A trailing "(...)" (dose, route, note) or route word, repeated; the name before it must remain.
_TRAILING = rf"^(.+?)(?:\s*\([^()]*\)|\s+{_ROUTE})+$"
_LEADING = rf"^(?:{_ROUTE}\s+)+(.+)$"
# US biologic suffix: four letters after an antibody, ADC, hyaluronidase or G-CSF stem.
_SUFFIX = r"^(.*(?:mab|mafodotin|vedotin|hyaluronidase|grastim))-([a-z]{4})$"
_STRONG_SPLIT = r"\s*(?:[+/,&;]|\b(?:and|with|plus)\b)\s*"
_WEAK_SPLIT = r"[\s\-]+"


def _prepared(expr: pl.Expr) -> pl.Expr:
    """Unicode-normalised, lower-case, one kind of hyphen, single spaces, trimmed."""
    return (
        expr.cast(pl.String).str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(_DASHES, "-").str.replace_all(r"\s+", " ").str.strip_chars()
    )  # fmt: skip


def _key(expr: pl.Expr, protected_suffixes: Sequence[str]) -> pl.Expr:
    text = _prepared(expr).str.replace(_LEADING, "${1}").str.replace(_TRAILING, "${1}")
    suffix = text.str.extract(_SUFFIX, 2)
    text = (
        pl.when(suffix.is_null() | suffix.is_in(list(protected_suffixes)))
        .then(text)
        .otherwise(text.str.replace(_SUFFIX, "${1}"))
    )
    return (
        text.str.replace_all(r"[\s\-_.]", "")
        .str.replace(r"^(.+?)(?:\([^()]*\))+$", "${1}")
        .str.normalize("NFKC").str.to_lowercase().str.normalize("NFKC")
    )  # fmt: skip


def normalise_therapy_key(expr: pl.Expr) -> pl.Expr:
    """The lookup key of a therapy name.

    Unicode NFKC, lower case, whitespace collapsed and trimmed; a leading or trailing route word
    (``SC``, ``IV``, ``oral``) and trailing ``(...)`` notes dropped (a name must remain); a US
    biologic suffix after a known stem dropped (``daratumumab-fihj``), unless the four letters are
    themselves a known name; then spaces, hyphens, underscores and dots removed, so that ``D-VRd``,
    ``DVRd`` and ``d vrd`` share one key.

    >>> names = pl.Series(["Darzalex  Faspro", "daratumumab-FIHJ", "D-VRd", "bortezomib (SC)"])
    >>> pl.select(normalise_therapy_key(pl.lit(names))).to_series().to_list()
    ['darzalexfaspro', 'daratumumab', 'dvrd', 'bortezomib']
    """
    return _key(expr, _PROTECTED_SUFFIXES)


# --- loading the packaged data --------------------------------------------------------------------
def _strings(entry: Mapping[str, Any], field: str) -> tuple[str, ...]:
    return tuple(str(v) for v in entry.get(field) or ())


def _load() -> tuple[dict[str, Drug], dict[str, Regimen], date]:
    raw = resources.files("relapsewatch.vocab").joinpath("data/drugs.yaml").read_text("utf-8")
    # libyaml's safe loader when PyYAML has it (every PyPI wheel does): the same safe subset,
    # ten times faster, which every process that imports the vocabulary pays once
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(raw, Loader=loader)
    sections: tuple[tuple[Kind, str], ...] = (("drug", "drugs"), ("procedure", "procedures"))
    drugs: dict[str, Drug] = {}
    for kind, section in sections:
        for e in data[section]:
            name, classes = str(e["name"]), _strings(e, "classes")
            valid = bool(classes) and set(classes) <= set(DRUG_CLASSES) and name == name.lower()
            if not valid or name in drugs or (kind == "procedure") != (classes == ("procedure",)):
                raise VocabularyError(
                    f"drugs.yaml: {name!r} is malformed: names must be unique and lower case, "
                    f"classes from {DRUG_CLASSES}, and only procedures have class 'procedure'"
                )
            brands, aliases = _strings(e, "brands"), _strings(e, "aliases")
            drugs[name] = Drug(name, classes, kind, brands, aliases, str(e["source"]))
    regimens: dict[str, Regimen] = {}
    for e in data["regimens"]:
        name, components = str(e["name"]), _strings(e, "drugs")
        if missing := [d for d in components if d not in drugs]:
            raise VocabularyError(f"drugs.yaml: regimen {name!r} names unknown {missing}")
        regimens[name] = Regimen(name, components, _strings(e, "aliases"), str(e["source"]))
    procedures = tuple(n for n, d in drugs.items() if d.kind == "procedure")
    if set(procedures) != set(PROCEDURES):
        raise VocabularyError(f"drugs.yaml: procedures must be {PROCEDURES}, got {procedures}")
    return drugs, regimens, data["reviewed"]


_drugs, _regimens, REVIEWED = _load()
#: Every canonical therapy (generic drug name or procedure) by name.
DRUGS: Mapping[str, Drug] = MappingProxyType(_drugs)
#: Every regimen abbreviation by its usual spelling.
REGIMENS: Mapping[str, Regimen] = MappingProxyType(_regimens)


def _name_table() -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Every known name (key, how it is written, its components), one row per key."""
    rows = [
        (text, (d.name,)) for d in DRUGS.values() for text in (d.name, *d.brands, *d.aliases)
    ] + [(text, r.drugs) for r in REGIMENS.values() for text in (r.name, *r.aliases)]
    names = pl.DataFrame(
        {"display": [t for t, _ in rows], "components": [list(c) for _, c in rows]},
        schema={"display": pl.String, "components": pl.List(pl.String)},
    ).with_columns(_prepared(pl.col("display")).alias("display"))
    bare = names.select(_key(pl.col("display"), ())).to_series()
    protected = tuple(sorted({k for k in bare if len(k) == 4 and k.isalpha()}))
    names = names.with_columns(_key(pl.col("display"), protected).alias("key"))
    clashes = names.group_by("key").agg(pl.col("components").n_unique().alias("n"), "display")
    if (clash := clashes.filter(pl.col("n") > 1)).height or names["key"].eq("").any():
        raise VocabularyError(f"drugs.yaml: names that clash or are empty: {clash.rows()}")
    return names.unique("key", keep="first", maintain_order=True), protected


_PROTECTED_SUFFIXES: tuple[str, ...] = ()
_NAMES, _PROTECTED_SUFFIXES = _name_table()
_COMPONENTS_BY_DISPLAY: dict[str, tuple[str, ...]] = {
    d: tuple(c) for d, c in zip(_NAMES["display"], _NAMES["components"], strict=True)
}
_DISPLAY_BY_KEY: dict[str, str] = dict(zip(_NAMES["key"], _NAMES["display"], strict=True))
_CLASSES = pl.DataFrame(
    {"therapy": list(DRUGS), "drug_classes": [list(d.classes) for d in DRUGS.values()]},
    schema={"therapy": pl.String, "drug_classes": pl.List(pl.String)},
)


# --- resolving names ------------------------------------------------------------------------------
def _split_known(frame: pl.DataFrame, text: str, pattern: str, level: str) -> pl.DataFrame:
    """Split ``text`` on ``pattern`` into numbered parts and look each part up."""
    return (
        frame.with_columns(pl.col(text).str.replace_all(pattern, "\x1f").str.split("\x1f"))
        .with_columns(pl.int_ranges(pl.col(text).list.len()).alias(level))
        .explode(text, level)
        .filter(pl.col(text).str.strip_chars() != "")
        .with_columns(normalise_therapy_key(pl.col(text)).alias("key"))
        .join(_NAMES.select("key", "components"), on="key", how="left")
        .drop("key")
    )


def _combinations(unknown: pl.DataFrame) -> pl.DataFrame:
    """Names that are combinations of known names: split on ``+ / , & ;`` and ``and/with/plus``,
    then a part still unknown on spaces and hyphens (so ``ide-cel + dex`` and ``len-dex`` work).
    Resolved only when every part is known."""
    prepared = unknown.with_columns(_prepared(pl.col("reported_therapy")).alias("part"))
    parts = _split_known(prepared, "part", _STRONG_SPLIT, "part_no")
    known = parts.filter(pl.col("components").is_not_null()).with_columns(sub_no=pl.lit(0))
    unknown_parts = parts.filter(pl.col("components").is_null()).drop("components")
    sub = _split_known(unknown_parts, "part", _WEAK_SPLIT, "sub_no")
    return (
        pl.concat([known, sub], how="diagonal_relaxed")
        .sort("reported_therapy", "part_no", "sub_no")
        .group_by("reported_therapy", maintain_order=True)
        .agg(pl.col("components").explode(), pl.col("components").is_not_null().all().alias("ok"))
        .filter("ok")
        .drop("ok")
    )


def resolve_therapies(reported: pl.Series) -> pl.DataFrame:
    """Resolve reported therapy names to canonical therapies and their classes.

    One row per (distinct non-null reported name, component drug); a join on the distinct names,
    so a column of millions of rows costs as much as its distinct names. ``component`` numbers the
    drugs from 0 in the order of the regimen's vocabulary entry (a repeated drug counts once). An
    unknown name gives one row with ``therapy`` and ``drug_classes`` null; see
    :func:`suggest_therapies`.

    >>> resolve_therapies(pl.Series(["VRd", "Revlimid", "Revlimd"])).rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [('VRd', 'bortezomib', ['pi'], 0), ('VRd', 'lenalidomide', ['imid'], 1),
     ('VRd', 'dexamethasone', ['steroid'], 2), ('Revlimid', 'lenalidomide', ['imid'], 0),
     ('Revlimd', None, None, 0)]
    """
    names = (
        pl.DataFrame({"reported_therapy": reported.cast(pl.String)})
        .drop_nulls()
        .unique(maintain_order=True)
    )
    exact = names.with_columns(normalise_therapy_key(pl.col("reported_therapy")).alias("key")).join(
        _NAMES.select("key", "components"), on="key", how="left", maintain_order="left"
    )
    unknown = exact.filter(pl.col("components").is_null()).select("reported_therapy")
    resolved = pl.concat([exact.drop_nulls("components").drop("key"), _combinations(unknown)])
    return (
        names.join(resolved, on="reported_therapy", how="left", maintain_order="left")
        .with_columns(pl.col("components").list.unique(maintain_order=True))
        .explode("components")
        .rename({"components": "therapy"})
        .with_columns(
            pl.int_range(pl.len()).over("reported_therapy").cast(pl.UInt8).alias("component")
        )
        .join(_CLASSES, on="therapy", how="left", maintain_order="left")
        .select("reported_therapy", "therapy", "drug_classes", "component")
    )


def suggest_therapies(name: str, *, limit: int = 3) -> list[str]:
    """Known names nearest to ``name`` (as written in the vocabulary, lower case), best first.

    Compares lookup keys with :mod:`difflib` (ratio at least 0.75); at most one name per therapy.

    >>> suggest_therapies("Revlimd")
    ['revlimid']
    """
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    key = pl.select(normalise_therapy_key(pl.lit(name, dtype=pl.String))).item()
    suggestions: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for match in difflib.get_close_matches(key, list(_DISPLAY_BY_KEY), n=10 * limit, cutoff=0.75):
        display = _DISPLAY_BY_KEY[match]
        if (components := _COMPONENTS_BY_DISPLAY[display]) not in seen:
            seen.add(components)
            suggestions.append(display)
    return suggestions[:limit]


def unknown_therapy_message(name: str, *, limit: int = 3) -> str:
    """A message for an unknown therapy name that suggests the nearest known ones.

    >>> unknown_therapy_message("Revlimd")
    "unknown therapy 'Revlimd'; did you mean 'revlimid' (lenalidomide)?"
    """
    hints = [
        f"{s!r} ({' + '.join(_COMPONENTS_BY_DISPLAY[s])})"
        for s in suggest_therapies(name, limit=limit)
    ]
    if hints:
        return f"unknown therapy {echo(name)}; did you mean {' or '.join(hints)}?"
    return (
        f"unknown therapy {echo(name)}; write a generic drug name (e.g. lenalidomide), a brand, "
        f"a regimen abbreviation (e.g. VRd) or a procedure ({', '.join(PROCEDURES)})"
    )


# --- helpers for the line-of-therapy engine -------------------------------------------------------
def drugs_in_class(drug_class: str) -> frozenset[str]:
    """The canonical therapies in a class of :data:`DRUG_CLASSES`.

    >>> sorted(drugs_in_class("anti_cd38"))
    ['daratumumab', 'felzartamab', 'isatuximab']
    """
    if drug_class not in DRUG_CLASSES:
        raise VocabularyError(f"drug_class must be one of {DRUG_CLASSES}, got {drug_class!r}")
    return frozenset(d.name for d in DRUGS.values() if drug_class in d.classes)


#: Anti-myeloma drugs that can open a line: not steroids, supportive care or procedures (L2).
LINE_OPENING_DRUGS: frozenset[str] = frozenset(
    d.name for d in DRUGS.values() if not _NOT_LINE_OPENING.intersection(d.classes)
)


def is_line_opening(therapy: str) -> bool:
    """Whether a canonical therapy can open a line of therapy (rule L2).

    >>> is_line_opening("lenalidomide"), is_line_opening("dexamethasone")
    (True, False)
    """
    if therapy not in DRUGS:
        raise VocabularyError(f"therapy must be a canonical therapy name, got {therapy!r}")
    return therapy in LINE_OPENING_DRUGS


def _known(*names: str) -> frozenset[str]:
    if missing := [n for n in names if n not in DRUGS]:
        raise VocabularyError(f"drugs.yaml lacks {missing}, named by a rule list in drugs.py")
    return frozenset(names)


# L5d: planned post-ASCT maintenance or consolidation drugs (spec §2.5).
MAINTENANCE_DRUGS = _known(
    "lenalidomide", "pomalidomide", "thalidomide", "bortezomib", "ixazomib", "carfilzomib",
    "daratumumab", "isatuximab", "elotuzumab",
)  # fmt: skip
# L5b: mobilisation before apheresis: cyclophosphamide, filgrastim, plerixafor (spec §2.5), plus the
# other G-CSFs and CXCR4 antagonists that play the same role (all but cyclophosphamide supportive).
MOBILISATION_DRUGS = _known(
    "cyclophosphamide", "filgrastim", "plerixafor", "pegfilgrastim", "lenograstim", "motixafortide"
)
# L5c: conditioning before ASCT: melphalan or BEAM-type agents (spec §2.5); busulfan for Bu-Mel.
CONDITIONING_DRUGS = _known("melphalan", "carmustine", "etoposide", "cytarabine", "busulfan")
# L5e: CAR-T lymphodepletion: fludarabine, cyclophosphamide (spec §2.5).
LYMPHODEPLETION_DRUGS = _known("fludarabine", "cyclophosphamide")
# E4: penta-exposed/-refractory means each of these five groups is met (strict named drugs, A-26):
# lenalidomide, pomalidomide, bortezomib, carfilzomib, and at least one anti-CD38 antibody.
PENTA_DRUGS: tuple[frozenset[str], ...] = (
    *(_known(d) for d in ("lenalidomide", "pomalidomide", "bortezomib", "carfilzomib")),
    drugs_in_class("anti_cd38"),
)
