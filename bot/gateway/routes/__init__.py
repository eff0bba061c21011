"""The gateway's HTTP routes, one module per audience (customers, brands, the engine)."""
