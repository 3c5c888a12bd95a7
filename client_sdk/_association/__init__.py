"""One association attempt: the flow, the presentation contexts and the size budget, the
answer's check, and the diagnosis of what went wrong (transport, TLS, the peer's faults)."""
