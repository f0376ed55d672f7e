"""adlib: notebook-first tutorials and reproductions of knowledge-distillation anomaly detection."""

__version__ = "0.1.0.dev0"
