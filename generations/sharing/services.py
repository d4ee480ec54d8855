"""Share links: who may share a video, making and revoking a link, and finding the live link for a token.

The token is 32 random bytes (43 URL-safe characters, 256 bits): unguessable, so a lookup needs no rate limit
beyond being cheap. Only its SHA-256 is stored (``ShareLink.token_hash``, a unique index): a lookup is one indexed
equality on the hash, which is as constant-time as it needs to be (the attacker controls the hash's input, not its
output), and a leaked database holds no working link. A plain hash rather than an HMAC: the token already has full
entropy, and links keep working when SECRET_KEY is rotated.

Times are this machine's clock (``timezone.now``), not the database's (generations/clock.py): a link's expiry is
one comparison made by web processes, where a few seconds of skew between machines changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from generations.models import Generation, ShareLink

S = Generation.Status
TOKEN_BYTES = 32
# What secrets.token_urlsafe(TOKEN_BYTES) gives: anything else is unknown without asking the database.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
EXPIRY_DAYS = (1, 7, 30)
DEFAULT_EXPIRY_DAYS = 7
LABEL_MAX = ShareLink._meta.get_field("label").max_length or 100


class ShareRefused(ValueError):
    """The link cannot be made or changed: the message says why in one sentence, ``status`` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 409):
        super().__init__(message)
        self.status = status


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_refusal(*, generation: Generation, actor: Any) -> ShareRefused | None:
    """Why ``actor`` may not share ``generation`` now, or None. Owner or staff; a private video only its owner."""
    is_owner = generation.owner_id == actor.pk
    if not is_owner and not actor.is_staff:
        return ShareRefused("Only the video's owner or an admin can share it.", status=403)
    if generation.visibility == Generation.Visibility.PRIVATE and not is_owner:
        return ShareRefused("This video is private: only its owner can share it.", status=403)
    if generation.deleted_at is not None:
        return ShareRefused("This video was deleted.", status=409)
    if generation.status in Generation.IN_FLIGHT:
        return ShareRefused("This video is not ready yet: it can be shared once it is.", status=409)
    if generation.status != S.READY or not generation.video:
        return ShareRefused("Only a ready video can be shared.", status=409)
    return None


def share_link_create(
    *, generation: Generation, actor: Any, label: str = "", days: int = DEFAULT_EXPIRY_DAYS, show_names: bool = False
) -> tuple[ShareLink, str]:
    """Make a link to ``generation`` valid for ``days``; returns the link and its token, which nothing keeps.

    The caller shows the token once, to ``actor``. Raises ShareRefused (nothing written) when the video may not
    be shared by this actor, or when the label or expiry is not one the form offers.
    """
    generation = Generation.objects.get(pk=generation.pk)  # the video as it is now, not as the page saw it
    refusal = share_refusal(generation=generation, actor=actor)
    if refusal is not None:
        raise refusal
    if days not in EXPIRY_DAYS:
        raise ShareRefused("Choose how long the link works: 1, 7 or 30 days.", status=400)
    label = label.strip()
    if len(label) > LABEL_MAX:
        raise ShareRefused(f"A label has at most {LABEL_MAX} characters.", status=400)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link = ShareLink.objects.create(
        generation=generation,
        created_by=actor,
        token_hash=hash_token(token),
        label=label,
        show_names=show_names,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return link, token


def share_link_revoke(*, link: ShareLink) -> None:
    """The link stops working at once. Raises ShareRefused if it was already revoked."""
    now = timezone.now()
    if ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now) != 1:
        raise ShareRefused("This link was already revoked.")
    link.revoked_at = now


def share_link_find(*, token: str) -> ShareLink | None:
    """The working link for ``token``, with its video and owner; None when the token is unknown, the link expired
    or was revoked, or its video can no longer be shown (deleted, not ready, made private by its owner after
    someone else shared it). Callers answer every None the same way, so a visitor learns nothing from it."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    link = (
        ShareLink.objects.select_related("generation__owner")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if link is None:
        return None
    return None if video_withheld(link) else link


def video_withheld(link: ShareLink) -> bool:
    """The link's video can no longer be shown: deleted, not ready, or made private by its owner after someone
    else shared it (one rule for the shared page and for the state the video's page lists)."""
    gen = link.generation
    if gen.deleted_at is not None or gen.status != S.READY or not gen.video:
        return True
    return gen.visibility == Generation.Visibility.PRIVATE and link.created_by_id != gen.owner_id


def share_link_record_view(*, link: ShareLink) -> None:
    """One more opening of the shared page (an UPDATE with F(), so simultaneous openings all count)."""
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1, last_viewed_at=timezone.now())


def share_link_state(link: ShareLink, now: datetime | None = None) -> str:
    """The state the list on the video's page and the admin show: "active", "paused" (its video is withheld, e.g.
    made private: the link works again if the video is shared again), "expired" or "revoked"."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= (now or timezone.now()):
        return "expired"
    return "paused" if video_withheld(link) else "active"
