"""OpenAI's embeddings door: /v1/embeddings."""
