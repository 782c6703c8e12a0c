"""Peers answering finder's search API shape with other designs, for the benchmark."""
