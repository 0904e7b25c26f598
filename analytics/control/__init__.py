"""Demand-response control over the thermal twins (issue 18): environment, policies, MPC,
reinforcement learning, flexibility estimation. See analytics/README.md."""
