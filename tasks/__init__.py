"""Prefect tasks: thin wrappers over the core where retries, caching and logging matter."""
