"""Folio's query service: planning, context building, answering (see the query-service issue)."""
