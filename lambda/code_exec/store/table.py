"""The one store object the services hand out: every kind of record in the one table."""

from __future__ import annotations

from code_exec.store.api_keys import ApiKeyStore
from code_exec.store.container_records import ContainerStore
from code_exec.store.file_records import FileRecordStore
from code_exec.store.job_records import JobStore
from code_exec.store.session_records import SessionStore
from code_exec.store.skill_records import SkillStore

__all__ = ["Store"]


class Store(SessionStore, JobStore, ContainerStore, FileRecordStore, SkillStore, ApiKeyStore):
    """Sessions, jobs, containers, files, skills and API keys in the one table."""
