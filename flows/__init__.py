"""Prefect flows: one module per duty kind, plus intake and serving."""
