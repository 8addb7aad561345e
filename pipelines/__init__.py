"""Prefect flows: thin wiring over equity_outcomes library functions."""
