"""Coalitions (CGDFS): forming a coalition for a DSO request with CP-SAT (and a greedy
baseline), reserves, replacement of failing members, and reward sharing (proportional or
Shapley). Pure engines; see :mod:`coalitions.engine` and :mod:`coalitions.sharing`."""
