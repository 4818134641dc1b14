"""OpenAI's chat completions door: /v1/chat/completions and /v1/models."""
