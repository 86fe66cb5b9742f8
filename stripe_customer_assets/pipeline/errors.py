"""What stops a pipeline's run (its configuration is checked at load: ``pipeline.config``)."""


class PipelineRunError(RuntimeError):
    """A run cannot proceed for a reason the user can act on (mirror missing, table clash)."""
