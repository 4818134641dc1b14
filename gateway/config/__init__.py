"""The YAML model map: loading, validation and the immutable snapshot the gateway serves from.

The file uses LiteLLM Proxy's `model_list` schema so operators can reuse what they know:

    model_list:
      - model_name: chat-model            # the frontend's model ID
        litellm_params:
          model: openai/gpt-4o-mini
          api_key: os.environ/OPENAI_API_KEY
    router_settings: {num_retries: 2, timeout: 60}
    gateway: {...}                        # options of this gateway

Every problem is reported with the file, the line, the entry and the field. A deployment whose
`os.environ/` variable is unset does not stop the server: it is left out of the router and a
request for its model ID gets an error naming the variable.

The package keeps one job per module: `options` (the `gateway:` schema), `model` (the snapshot
and how LiteLLM's Router takes it), `loading`, `validation`, `environment` (`os.environ/` and
secrets), `litellm_facts` (what the installed LiteLLM accepts), `callbacks` (the callbacks
litellm_settings asks for) and `catalog` (what validation is told by the running gateway: config
is data and imports none of the gateway's runtime).
"""

from gateway.config.callbacks import CallbackPlan
from gateway.config.catalog import Catalog
from gateway.config.environment import ENV_PREFIX
from gateway.config.loading import load_config, parse_config, read_config_text, text_digest
from gateway.config.model import (
    CALL_SETTINGS,
    CALLBACK_ROUTING,
    FALLBACK_KINDS,
    LONE_DEPLOYMENT_ALLOWED_FAILS,
    MODEL_MODES,
    PRICE_FIELDS,
    Deployment,
    GatewayConfig,
    ModelMode,
)
from gateway.config.options import (
    CacheOptions,
    ChatOptions,
    GatewayOptions,
    RateLimitOptions,
    StreamReader,
)
from gateway.config.problems import ConfigError, ConfigProblem

__all__ = [
    "CALLBACK_ROUTING",
    "CALL_SETTINGS",
    "ENV_PREFIX",
    "FALLBACK_KINDS",
    "LONE_DEPLOYMENT_ALLOWED_FAILS",
    "MODEL_MODES",
    "PRICE_FIELDS",
    "CacheOptions",
    "CallbackPlan",
    "Catalog",
    "ChatOptions",
    "ConfigError",
    "ConfigProblem",
    "Deployment",
    "GatewayConfig",
    "GatewayOptions",
    "ModelMode",
    "RateLimitOptions",
    "StreamReader",
    "load_config",
    "parse_config",
    "read_config_text",
    "text_digest",
]
