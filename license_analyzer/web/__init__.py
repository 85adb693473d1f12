"""`serve`: the review web app over the store (Starlette, signed in with Entra ID)."""
