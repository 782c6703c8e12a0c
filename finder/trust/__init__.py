"""Keeping listings true: re-verification, patients' reports and the NPI registry."""
