"""Sentence embeddings: the packaged MiniLM model run on the CPU (`model`), and the vectors ranking
needs computed once and stored (`vectors`: papers when they are stored, topics when they change).
"""
