"""Figures from derived results and simulations (Plotly; functions return a Figure)."""

from relapsewatch.plotting.virtual_patient import virtual_patient_figure

__all__ = ["virtual_patient_figure"]
