"""Ingest: read DESE profile exports and district student extracts, validate, load into the warehouse."""
