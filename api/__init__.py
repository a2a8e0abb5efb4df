"""The gridmap HTTP service (FastAPI)."""
