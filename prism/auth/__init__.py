"""Authentication and authorization: passwords, tokens, viewers and the permission matrix."""
