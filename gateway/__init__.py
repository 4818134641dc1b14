"""An LLM gateway: FastAPI in front, LiteLLM behind, Vercel AI SDK wire protocols out."""

import os

# LiteLLM fetches a remote price map at import time unless told not to; the gateway must start
# offline, so this runs before anything imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
