"""The operators' door: /health, /health/ready, /metrics and /admin/reload."""
