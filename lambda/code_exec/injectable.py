"""Services built on first use that tests replace by keyword.

The API's :class:`~code_exec.services.Services` and the authorizer's own, smaller services
hold their clients in ``cached_property`` attributes: nothing is built at construction, so a
cold start pays only for what a request uses. ``cached_property`` reads the instance dict
first, so an override written there wins over the builder, and forgetting an entry makes
the next use rebuild it from the environment.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Injectable"]


class Injectable:
    """A holder of lazily built services, the names in :attr:`INJECTABLE` replaceable."""

    INJECTABLE: ClassVar[tuple[str, ...]] = ()

    def override(self, **overrides: Any) -> None:
        """Replace services by keyword (tests pass fakes this way); ``None`` keeps the builder."""
        unknown = set(overrides) - set(self.INJECTABLE)
        if unknown:
            raise TypeError(f"unknown service override(s): {sorted(unknown)}")
        self.__dict__.update({k: v for k, v in overrides.items() if v is not None})

    def reset(self) -> None:
        """Forget everything built so far (the next use rebuilds it from the environment)."""
        for name in self.INJECTABLE:
            self.__dict__.pop(name, None)
