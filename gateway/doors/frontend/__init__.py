"""The frontend's door: POST /api/chat in its three stream protocols (the line format, AI SDK 4's
data stream, AI SDK 5+'s UI message stream) and JSON, and chats by id."""
