"""Who may see or change a generation. Everything that is not yours and not shared is a 404, never a 403."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest

from generations.models import Generation


def get_generation_for_viewer(request: HttpRequest, pk: uuid.UUID) -> Generation:
    gen = Generation.objects.visible_to(request.user).select_related("owner", "credential").filter(pk=pk).first()
    if gen is None:
        raise Http404("No such video.")
    return gen


def get_generation_for_owner(request: HttpRequest, pk: uuid.UUID) -> Generation:
    """Owner or staff: cancel, delete, change visibility."""
    gen = get_generation_for_viewer(request, pk)
    if gen.owner_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such video.")
    return gen
