"""What every door shares: admission, the answering path, streaming, the strict body reader,
JSON Schema checks, error responses, the body limit, the request log."""
