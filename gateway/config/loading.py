"""Reading a YAML file into a GatewayConfig: the text, its digest, the parse, the validation."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from gateway.config.catalog import Catalog
from gateway.config.model import GatewayConfig
from gateway.config.problems import ConfigError, ConfigProblem
from gateway.config.validation import Validator
from gateway.config.yaml_source import YamlProblem, parse_yaml


def load_config(path: Path, catalog: Catalog) -> GatewayConfig:
    """Read and validate `path`; raise ConfigError listing every problem found.

    `catalog` says which providers, tools and callbacks exist (the gateway's own is
    gateway.catalog.GATEWAY_CATALOG).
    """
    return parse_config(read_config_text(path), path, catalog)


def read_config_text(path: Path) -> str:
    """The file's text, or ConfigError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, [ConfigProblem(line=None, where="", message="file not found")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read file: {exc.__class__.__name__}"
        raise ConfigError(path, [ConfigProblem(line=None, where="", message=message)]) from None


def parse_config(text: str, path: Path, catalog: Catalog) -> GatewayConfig:
    """Validate `text` (read from `path`, which problems name); raise ConfigError if it fails."""
    try:
        document = parse_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(
            path, [ConfigProblem(line=exc.line, where="", message=exc.message)]
        ) from None
    config = Validator(document, path, catalog).validate()
    return dataclasses.replace(config, digest=text_digest(text))


def text_digest(text: str) -> bytes:
    """What a reload compares the file against (GatewayConfig.digest)."""
    return hashlib.sha256(text.encode()).digest()
