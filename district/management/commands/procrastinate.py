"""procrastinate's own command, plus one step before a worker starts: requeue stalled jobs.

This app is listed before ``procrastinate.contrib.django`` in INSTALLED_APPS, so this command
answers ``manage.py procrastinate …``. Everything is procrastinate's, except that
``procrastinate worker`` first puts back to ``todo`` the jobs left in ``doing`` by workers
whose heartbeat stopped (``district.jobs.retry_stalled_jobs_now``). The periodic task does the
same every minute; doing it at start too means a worker restarted after an outage picks up at
once what the dead one was doing, instead of on the next tick.
"""

from __future__ import annotations

import asyncio
from typing import Any

from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.management.commands.procrastinate import Command as ProcrastinateCommand

from district.jobs import retry_stalled_jobs_now


class Command(ProcrastinateCommand):
    """``manage.py procrastinate``; ``worker`` requeues stalled jobs before it starts."""

    def handle(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("command") == "worker":
            asyncio.run(self._requeue_stalled())
        super().handle(*args, **kwargs)

    async def _requeue_stalled(self) -> None:
        connector = app.connector
        # The kind of connection the worker is about to use: the Django connector cannot serve
        # an event loop, so procrastinate's command swaps in its own pool, and so do we.
        if isinstance(connector, DjangoConnector):
            connector = connector.get_worker_connector()
        with app.replace_connector(connector):
            async with app.open_async():
                retried = await retry_stalled_jobs_now()
        if retried:
            self.stdout.write(f"requeued stalled jobs: {', '.join(map(str, retried))}")
