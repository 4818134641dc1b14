"""HTTP doors: thin FastAPI routers that hand requests to the engine."""
