# LLM gateway image. The shipped litellm_config.yaml serves offline demo models; mount your own
# model map over /app/litellm_config.yaml (or point GATEWAY_CONFIG elsewhere) and pass provider
# keys as environment variables:
#   docker run -p 8000:8000 -v ./my_config.yaml:/app/litellm_config.yaml:ro -e OPENAI_API_KEY gateway
FROM python:3.11-slim

WORKDIR /app

# Dependencies first (hash-locked), so code edits don't reinstall them. The lock is complete, so
# nothing is resolved (--no-deps): a release on the index since the lock was made cannot change
# what is installed. pip check proves the set is consistent.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock \
    && pip check

COPY pyproject.toml README.md litellm_config.yaml ./
COPY gateway/ ./gateway/
RUN pip install --no-cache-dir --no-deps . \
    && groupadd --gid 10001 gateway \
    && useradd --create-home --uid 10001 --gid 10001 gateway

# Numeric, so runtimes (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001

ENV LITELLM_LOCAL_MODEL_COST_MAP=True \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000 \
    GATEWAY_CONFIG=/app/litellm_config.yaml \
    PYTHONUNBUFFERED=1

EXPOSE 8000

# No curl in slim images: probe with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_PORT', '8000') + '/health', timeout=4)"]

CMD ["gateway", "serve"]
