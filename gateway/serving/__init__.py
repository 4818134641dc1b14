"""The process and its sockets: `gateway serve` with its workers, the HTTP protocol's caps and
timeouts, connections per client address, signals and draining."""
