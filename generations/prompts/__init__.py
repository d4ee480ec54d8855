"""Prompt templates and a member's prompt history.

services.py holds who may use or change a template, the one check of a template's default settings against the
catalog, filling a template, and the history query; forms.py the template and fill forms; views.py the thin
views; admin.py the admin. Other packages (batches) call ``services.template_usable_by`` and
``services.template_fill``.
"""
