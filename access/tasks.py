"""The access app's jobs: procrastinate imports ``<app>.tasks``; the tasks live in their own modules."""

from access import tasks_maintenance, tasks_screening

__all__ = ["tasks_maintenance", "tasks_screening"]
