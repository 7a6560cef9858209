"""Business logic between the REST routes and the store: one module per job."""
