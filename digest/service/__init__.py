"""The long-running processes: `serve` (the web app and the scheduler's jobs in one event loop) and
`worker` (delivery only), the jobs themselves (`jobs`: fetch, send, tidy, each asking the database what is
due), and who may run them (`leader`).
"""
