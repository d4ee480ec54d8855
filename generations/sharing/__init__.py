"""Share links: one ready video shown to people outside the team, without login, until the link expires or is revoked.

services.py holds the rules (who may share what, token and hash, expiry, revocation, the view count); views.py the
member's form and the public page at /s/<token>/ with its video and poster; admin.py the read-mostly admin.
"""
