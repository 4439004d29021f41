"""AI: the only code that talks to LiteLLM and Qdrant (embeddings, the vector index, retrieval)."""
