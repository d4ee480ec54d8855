"""Share tokens stay out of the site's own logs.

Django logs every 4xx and 5xx with its path ("Not Found: /s/<token>/"), and a dead link today may open tomorrow
(a video made private and then shared with the team again). The site's log handler (settings.LOGGING) runs this
filter, which replaces the token in any /s/<token> path of a record with "…". Web server access logs (nginx,
gunicorn, runserver) are outside the site's hands: they record paths as they record password-reset links.
"""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/s/)[^/\s?#\"']+")


def _hide(value: object) -> object:
    return TOKEN_IN_PATH.sub(r"\1…", value) if isinstance(value, str) else value


class HideShareTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _hide(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_hide(arg) for arg in record.args)
        return True
