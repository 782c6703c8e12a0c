"""Clinics: they submit listings, claim the ones an import made, and keep them true through
private owner links; every change goes through moderation and is kept in the history."""
