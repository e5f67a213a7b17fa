"""zoo: a plugin-based zoo of generative and domain-adaptation models."""

__version__ = "0.1.0"
