"""Anthropic's Messages door: /v1/messages."""
