"""What operators see of each request: metrics, log lines, traces, and the one outcome they all
read."""
