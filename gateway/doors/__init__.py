"""Doors: one folder per API a client speaks, over what they share (`common/`).

Each door folder holds its routes, request schemas, wire encoder and collector; file names
say the door (`anthropic_routes.py`, `responses_encoder.py`). `door_list.py` lists the
routers the app serves."""
