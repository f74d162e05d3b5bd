"""live: a live-commerce companion server for 社群+直播."""

__version__ = "0.1.0"
