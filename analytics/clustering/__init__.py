"""Clustering of households by behaviour (TLC): load shapes, level, PV, temperature, flexibility."""
