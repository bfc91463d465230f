"""Kedro wiring: hooks, the checks run before any node, and the plan of which models a run trains."""
