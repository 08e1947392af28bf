"""One module per source system.  Every source implements :class:`Source`."""
from .base import Source, source_class  # noqa: F401
