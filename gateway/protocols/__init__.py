"""Wire protocols: one encoder per format a chat frontend speaks.

Adding a protocol means one module and one line in STREAM_PROTOCOLS.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.protocols.base import StreamEncoder
from gateway.protocols.typed_lines import TypedLineEncoder

STREAM_PROTOCOLS: dict[str, Callable[[], StreamEncoder]] = {
    "typed": TypedLineEncoder,
}
DEFAULT_PROTOCOL = "typed"

__all__ = ["DEFAULT_PROTOCOL", "STREAM_PROTOCOLS", "StreamEncoder"]
