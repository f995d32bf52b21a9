"""Errors with messages that name the file, folder or field and what to do."""

from __future__ import annotations


class Wan22Error(ValueError):
    """Base class: a problem the user can fix; the message says how."""


class PlanError(Wan22Error):
    """A mode/preset/override combination the router refuses."""


class MissingFilesError(Wan22Error):
    """One or more model files are not where ComfyUI looks for them."""


class AudioError(Wan22Error):
    """Audio that cannot be prepared for S2V."""


class WorkflowError(Wan22Error):
    """An API or UI workflow that does not fit the server it is sent to."""


class ModelFileError(Wan22Error):
    """A model file that is there but truncated, corrupt or the wrong model."""


class GraphError(Wan22Error):
    """A node input connected to the wrong kind of value; the message names what to connect."""
