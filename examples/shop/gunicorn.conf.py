"""gunicorn settings for the shop API: ``gunicorn -c gunicorn.conf.py shop.lifespan:app``.

Each worker is a process with its own engines and pools (see ``db.py`` and
``lifespan.py``), so the database sees every pool once per worker.
"""

bind = "0.0.0.0:8000"
worker_class = "uvicorn.workers.UvicornWorker"
# BUG: 4 workers x 69 connections per process = 276, far past PostgreSQL's default
# max_connections of 100 (SQA506; `sqla-lint budget examples/shop` shows the sum).
workers = 4
timeout = 30
