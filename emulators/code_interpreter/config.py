"""Emulator settings: CLI flag, then environment variable, then default.

A bad value raises :class:`ConfigError` naming the variable or flag.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["ENV_PREFIX", "ConfigError", "EmulatorConfig"]

ENV_PREFIX = "CODE_INTERPRETER_EMULATOR_"
_MB = 1024 * 1024


class ConfigError(ValueError):
    """An emulator setting has a bad value."""


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator can be tuned with.

    Each field ``foo_bar`` is read from ``CODE_INTERPRETER_EMULATOR_FOO_BAR`` and can be
    overridden by the CLI flag ``--foo-bar``.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    cell_timeout: float = 300.0  # seconds per executeCode / executeCommand call
    interrupt_grace: float = 5.0  # seconds to wait after an interrupt before restarting the kernel
    workspace_mb: int = 1024  # size of the per-session tmpfs (workspace + /tmp)
    memory_mb: int = 4096  # RLIMIT_AS per sandbox process (and memory cgroup when available)
    cpu_seconds: int = 3600  # RLIMIT_CPU per sandbox process
    max_processes: int = 256  # pids cgroup / RLIMIT_NPROC
    max_open_files: int = 1024  # RLIMIT_NOFILE
    max_sessions: int = 32  # concurrent READY sessions before serviceQuotaExceededException
    warm_pool: int = 1  # sandboxes kept with a started kernel, so a new session is warm at once
    default_session_timeout: int = 900  # seconds, when the request gives none (AgentCore default)
    max_rps_per_session: float = 0.0  # InvokeCodeInterpreter requests/s per session; 0: no limit
    max_rps_per_account: float = 0.0  # the same per account (access key id); 0: no limit
    sandbox_workdir: str = "/workspace"  # the workspace path as seen inside the sandbox
    state_dir: str = ""  # host dir for per-session state; default: a fresh temp dir
    unisolated: bool = False  # run kernels without bubblewrap (loud warning)
    check_responses: bool = False  # check each response against botocore's service model
    web_corpus: str = ""  # InvokeWebSearch's corpus dir; default: tests/fixtures/web_corpus
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> EmulatorConfig:
        """Resolve settings: explicit ``overrides`` (not None), then ``env``, then defaults."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            explicit = overrides.get(f.name)
            if explicit is not None:
                values[f.name] = explicit
                continue
            name = ENV_PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(name, raw, f.default)
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`ConfigError` on out-of-range values."""
        positive = ("cell_timeout", "workspace_mb", "memory_mb", "max_processes", "max_sessions")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be > 0")
        for name in ("warm_pool", "max_rps_per_session", "max_rps_per_account"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be >= 0")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{ENV_PREFIX}PORT must be between 0 and 65535")
        if not self.sandbox_workdir.startswith("/") or self.sandbox_workdir.rstrip("/") in (
            "",
            "/usr",
            "/tmp",
            "/proc",
            "/dev",
        ):
            raise ConfigError(f"{ENV_PREFIX}SANDBOX_WORKDIR must be an absolute, unused path")

    @property
    def web_corpus_path(self) -> Path:
        """The corpus InvokeWebSearch searches (:mod:`.websearch`)."""
        from .websearch import DEFAULT_CORPUS

        return Path(self.web_corpus) if self.web_corpus else DEFAULT_CORPUS

    @property
    def workspace_bytes(self) -> int:
        return self.workspace_mb * _MB

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * _MB


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as e:
        raise ConfigError(f"{name} has a bad value: {raw!r}") from e
    return raw
