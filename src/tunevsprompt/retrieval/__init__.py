"""Retrieval: a sentence-transformers embedder, FAISS indexes, chunked corpora and a cache.

Used by the RAG arm (passages from a knowledge corpus) and by few-shot ``selection: similar``
(nearest training examples). faiss and sentence-transformers are imported inside the code that
needs them, so validating a suite never pays for them.
"""
