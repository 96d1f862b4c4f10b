"""Helpers the tests share: a real PostgreSQL server, API users, and Corral processes."""
