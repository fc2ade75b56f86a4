"""Integrations with other tools; each is imported on its own (``hpo.integrations.tune`` needs Ray Tune)."""
