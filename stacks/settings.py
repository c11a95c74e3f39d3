"""Deployment settings; moved to :mod:`bedrock_code_execution.props` (names kept here)."""

from bedrock_code_execution.props import *  # noqa: F403
from bedrock_code_execution.props import __all__  # noqa: F401
