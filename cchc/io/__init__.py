"""I/O at the edges: HTTP fetching with its guards (injectable transport), feed and page parsing, Prefect events."""
