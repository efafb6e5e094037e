__version__ = "0.1.0"

# Top-level conveniences, imported lazily so `import scg_music` stays cheap.
def __getattr__(name):
    if name == 'load_released':
        from .checkpoints import load_released
        return load_released
    raise AttributeError(f"module 'scg_music' has no attribute {name!r}")
