"""digest: a personalised daily email of trending research papers."""

__version__ = "0.1.0"
