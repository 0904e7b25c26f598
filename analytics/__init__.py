"""Community analytics: forecasting, clustering, thermal twin, control, flexibility optimisation."""
