"""Helpers the tests share: a real PostgreSQL server, a private Docker engine and its base image,
API users, and Corral processes."""
