"""Training data: readers, cropping and the prepared-cache format; `open_source(spec)` is the one entry point."""
from gan.data.prepare import open_source

__all__ = ["open_source"]
