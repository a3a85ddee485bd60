"""cchc: Vietnamese commune CCHC communication plans run as scheduled processes."""

__version__ = "0.1.0"
