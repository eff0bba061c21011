"""The HTTP gateway: the FastAPI app, its middleware and error table, and its routes."""
