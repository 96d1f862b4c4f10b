"""The API's fixed names."""

API_PREFIX = "/api/v1"
