"""I/O at the edges: Prefect events."""
