"""Wire protocols: one encoder per format a chat frontend speaks.

Adding a protocol means one module and one line in STREAM_PROTOCOLS.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.protocols.base import StreamEncoder
from gateway.protocols.data_stream import DataStreamEncoder
from gateway.protocols.typed_lines import TypedLineEncoder
from gateway.protocols.ui_message_stream import UIMessageStreamEncoder

# The encoders /api/chat can answer with, chosen by `?protocol=` or `x-stream-protocol`.
STREAM_PROTOCOLS: dict[str, Callable[[], StreamEncoder]] = {
    "typed": TypedLineEncoder,
    "data-stream": DataStreamEncoder,
    "ui-message-stream": UIMessageStreamEncoder,
}
DEFAULT_PROTOCOL = "typed"

__all__ = ["DEFAULT_PROTOCOL", "STREAM_PROTOCOLS", "StreamEncoder"]
