"""OpenAI's Responses door: /v1/responses and its stored responses."""
