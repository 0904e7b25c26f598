"""Settlement of flexibility requests (DMSFDR): baselines, delivered versus promised, rewards,
penalties, non-delivery detection and the reputation scheme. Pure engines; see
:mod:`settlement.engine` for the rules and :mod:`settlement.baselines` for the baselines."""
