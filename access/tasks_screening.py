"""Access-control jobs (imported by access/tasks.py, which procrastinate loads)."""
