"""zoo: a plugin-based zoo of generative and domain-adaptation models.

From Python: zoo.train, zoo.export, zoo.load, zoo.to_pil, zoo.grid, zoo.save_grid (zoo/api.py says
what each returns). They are imported on first use, so `import zoo` stays light.
"""

from zoo.version import VERSION as __version__

_API = ("train", "export", "load", "to_pil", "grid", "save_grid")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from zoo import api  # deferred: the API imports torch, and `import zoo` stays light

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute '{name}'")


def __dir__():
    return sorted([*globals(), *_API])
