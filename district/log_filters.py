"""Logging filters: a refused request is one line in the log, not a traceback.

Django logs every 4xx answer on ``django.request`` (and CSRF and host refusals on
``django.security.*``) with the exception that caused it; each 403 then printed a full
traceback, and a 40-minute probe grew the server log to 170 MB (found in review). A refusal
is expected behaviour, not a fault: its one line (status, method, path) says all there is.
Server errors (5xx) keep their traceback.
"""

from __future__ import annotations

import logging


class OneLineRefusals(logging.Filter):
    """Drop the exception of client-error records (status < 500), keep the record itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.exc_info and (status is None or status < 500) and record.levelno < logging.ERROR:
            record.exc_info = None
            record.exc_text = None
        return True
