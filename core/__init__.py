"""The shared kernel at the bottom of the platform: errors, paths, settings, units, benchmark
helpers and the one rule set of flexibility money (:mod:`core.rules`). It imports nothing of
the platform's other packages; every other package may import it."""
