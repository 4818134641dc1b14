"""Settings that cannot work stop `gateway serve` at once with one clear line per problem:
no traceback, no secret from the value, nothing listening."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.configs import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import (
    clean_env,
    free_port,
    refuses_connections,
    serve_to_exit,
    write_config,
)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "GATEWAY_METRICS_PORT",
            "same",
            "GATEWAY_METRICS_PORT ({port}) must differ from GATEWAY_PORT ({port})",
        ),
        (
            "GATEWAY_METRICS_PORT",
            "ninety",
            "GATEWAY_METRICS_PORT must be a port number (1-65535), not 'ninety'",
        ),
        (
            "GATEWAY_METRICS_PORT",
            "70000",
            "GATEWAY_METRICS_PORT must be a port number (1-65535), not '70000'",
        ),
        (
            "REDIS_URL",
            "redis-sentinel://:hunter2-secret@10.0.0.1:26379/mymaster",
            "REDIS_URL must start with one of redis://, rediss://, unix://, redis+sentinel://, "
            "redis+cluster://, not redis-sentinel://",
        ),
        (
            "REDIS_URL",
            "redis+sentinel://:hunter2-secret@10.0.0.1:26379",
            "redis+sentinel:// needs the service name",
        ),
        (
            "REDIS_URL",
            "redis+sentinel://:hunter2-secret@10.0.0.1:26379/mymaster/2",
            "redis+sentinel:// takes no database number",
        ),
        (
            "REDIS_URL",
            "redis+cluster://:hunter2-secret@10.0.0.1:7000/1",
            "redis+cluster:// takes no path",
        ),
        (
            "REDIS_URL",
            "redis://:hunter2-secret@localhost:abc/0",
            "REDIS_URL: the port after 'localhost' must be a number from 1 to 65535",
        ),
        (
            "REDIS_URL",
            "rediss://user:hunter2-secret@[::1]:99999",
            "REDIS_URL: the port after '::1' must be a number from 1 to 65535",
        ),
        (
            "REDIS_URL",
            "redis://:hunter2-secret@localhost:6379/0?socket_timeout=soon",
            "REDIS_URL: Invalid value for 'socket_timeout' in connection URL",
        ),
        (
            "REDIS_URL",
            "redis+sentinel://:hunter2-secret@10.0.0.1:26379,10.0.0.2:x/mymaster",
            "REDIS_URL: the port after '10.0.0.2' must be a number from 1 to 65535",
        ),
    ],
)
def test_a_bad_setting_stops_the_start_with_a_clear_message(
    upstream: FakeUpstream, tmp_path: Path, variable: str, value: str, message: str
) -> None:
    port = free_port()
    env = clean_env(
        FAKE_UPSTREAM_KEY=UPSTREAM_KEY, **{variable: str(port) if value == "same" else value}
    )
    config = write_config(upstream, tmp_path)
    code, output = serve_to_exit(tmp_path, "--config", str(config), "--port", str(port), env=env)
    assert code == 1
    (line,) = [line for line in output.splitlines() if line.startswith("setting error: ")]
    assert variable in line and message.format(port=port) in line, output
    assert "Traceback" not in output and "hunter2" not in output, output
    assert refuses_connections(port)
