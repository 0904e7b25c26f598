"""Thermal digital twin of each home (SLC) and the physics-informed model (PIMF).

* :mod:`analytics.thermal.network`: the building as an ISO 13790 5R1C network, vectorised over
  homes; :mod:`analytics.thermal.solar` its solar gains (pvlib);
  :mod:`analytics.thermal.systems` heating/cooling systems and the hot-water tank;
  :mod:`analytics.thermal.occupants` schedules, gains and setpoints;
  :mod:`analytics.thermal.twin` the household twin that joins them.
* :mod:`analytics.thermal.calibrate`: fitting the twin to measured data (scipy least squares).
* :mod:`analytics.thermal.scenarios`: what-if scenarios (synthetic series, SLC-3).
* :mod:`analytics.thermal.results`: what a twin run produces, as stored and served.
* :mod:`analytics.thermal.pimf`: the physics-informed model in torch (RC + neural correction).
"""
