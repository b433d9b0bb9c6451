"""Vocabularies: analytes and LOINC codes, units (pint), drug names, brands and classes."""
