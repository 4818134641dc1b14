"""Chats that survive: stored UI messages, resumable streams, stop from anywhere."""
