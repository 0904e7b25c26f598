"""Chain access: compiler, local anvil, deployment, typed contract clients, transactions."""
