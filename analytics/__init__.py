"""Analytics for the community: forecasting, clustering, thermal twin, control, flexibility optimisation."""
