"""The REST API under /api/v1/ (django-ninja): personal tokens, the same services the pages use, problem+json."""
