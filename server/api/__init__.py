"""REST administration (thin Litestar controllers; OpenAPI at ``/schema``)."""
