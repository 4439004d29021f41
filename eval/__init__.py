"""`python -m eval`: precision and recall of PRISM's duplicate detection on labelled requirement pairs (docs/ai.md)."""
