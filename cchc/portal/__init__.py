"""The units' answer page (FastAPI)."""
