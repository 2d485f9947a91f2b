"""tunewiz engine: headless config, data path, training, run directory. Never imports textual."""
__version__ = "0.1.0"
