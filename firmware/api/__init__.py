"""The HTTP API (FastAPI): routers per area, named dependencies, one error handler."""
