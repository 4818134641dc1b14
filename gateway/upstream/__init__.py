"""Everything that touches LiteLLM below the engine: provider chunks into events, the lean
stream reader, provider errors into the gateway's, providers, LiteLLM callbacks, prices, and
embedding calls."""
