"""One module per outside system. All HTTP to it goes through that module's client."""
