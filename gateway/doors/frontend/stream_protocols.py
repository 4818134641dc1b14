"""Wire protocols: one encoder per format a chat frontend speaks.

Adding a protocol means one module and one line in STREAM_PROTOCOLS.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.doors.common.encoder_base import StreamEncoder
from gateway.doors.frontend.data_stream_encoder import DataStreamEncoder
from gateway.doors.frontend.typed_lines_encoder import TypedLineEncoder
from gateway.doors.frontend.ui_message_stream_encoder import UIMessageStreamEncoder

# The encoders /api/chat can answer with, chosen by `?protocol=` or `x-stream-protocol`.
STREAM_PROTOCOLS: dict[str, Callable[[], StreamEncoder]] = {
    "typed": TypedLineEncoder,
    "data-stream": DataStreamEncoder,
    "ui-message-stream": UIMessageStreamEncoder,
}
DEFAULT_PROTOCOL = "typed"

__all__ = ["DEFAULT_PROTOCOL", "STREAM_PROTOCOLS", "StreamEncoder"]
