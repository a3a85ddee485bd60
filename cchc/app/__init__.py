"""Use cases: each takes its settings, engine or session explicitly."""
