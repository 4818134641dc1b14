"""What a /api/chat request means for tools that ask first (gateway/approvals/).

Only the AI SDK's UI message stream, streamed, carries an approval request
(`tool-approval-request`) and brings the decision back (the tool part in state
`approval-responded`), so only such an answer is offered those tools; the line format, the
data stream and the JSON answer are answered without them. A request whose last message is an
assistant message with decided calls in its last step continues that answer: the same message
id, the decided calls run (or answered as denied) first.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.frontend.ui_messages import decisions_in

APPROVAL_PROTOCOL = "ui-message-stream"


def approval_fields(protocol: str, stream: bool, last: dict[str, Any] | None) -> dict[str, Any]:
    """The ChatCall's approval fields for an answer in `protocol` to a conversation whose last
    message (a UI message, as stored) is `last`."""
    can_ask = stream and protocol == APPROVAL_PROTOCOL
    if last is None:
        return {"can_ask_approval": can_ask}
    decisions = decisions_in(str(last.get("role")), list(last.get("parts") or ()))
    if not decisions:
        return {"can_ask_approval": can_ask}
    return {
        "can_ask_approval": can_ask,
        "decisions": tuple(decisions),
        "message_id": last.get("id") or None,
    }


def with_stored_parts(given: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored chat's paused answer with the client's decisions on it: the gateway's own copy
    of the message (every field it stored, the call's input as the model made it), each call
    waiting there taking the client's state and approval. `given` as it is when the chat holds
    no message of its id."""
    kept = next((m for m in stored if m.get("id") == given.get("id")), None)
    if kept is None or kept.get("role") != "assistant":
        return given
    answers = {
        part.get("toolCallId"): part
        for part in given.get("parts") or ()
        if part.get("state") == "approval-responded"
    }
    parts = []
    for part in kept.get("parts") or ():
        answer = answers.get(part.get("toolCallId"))
        if part.get("state") == "approval-requested" and answer is not None:
            part = {**part, "state": answer["state"], "approval": answer.get("approval")}
        parts.append(part)
    return {**kept, "parts": parts}
