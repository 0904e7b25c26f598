"""Energy forecasting tool (EFT): consumption, PV and flexibility forecasts with quantiles."""
