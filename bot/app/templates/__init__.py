"""HTML templates (string.Template, values escaped by the caller) for the few pages AIOS serves."""
