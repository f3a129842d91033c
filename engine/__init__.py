"""jobtui's headless engine: job model, store, scheduler, executors and API. Never imports Textual."""

__version__ = "0.1.0"
