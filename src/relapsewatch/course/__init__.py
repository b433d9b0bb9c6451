"""Derivations: frames in, frames out, Polars expressions, no I/O."""
