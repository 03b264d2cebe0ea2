"""The one error type of kafkaform.artifacts."""

from __future__ import annotations


class ArtifactError(RuntimeError):
    """An artifact could not be built, fetched or verified; the message says what to fix."""
