"""The policy: the SLA as a typed, versioned, hashed document (no query engine here)."""
