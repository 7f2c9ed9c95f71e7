"""The standalone discovery agent: ``python -m apps.discovery.agent --config agent.yaml``.

It runs the same collectors as the worker, inside a network CloudPAM cannot reach, with
credentials that never leave it, and pushes what it finds to the server's ingest
endpoint. It imports nothing from Django (a test enforces it): only the pure collector
and provider modules, PyYAML and requests.

Lifecycle: register with a provisioning token (the credential it receives is kept in a
state file), heartbeat while pending until an admin approves it, then every cycle
heartbeat and, per account, collect and push the records in gzip batches of at most
5,000 with a stable batch id, so a retried batch is stored once.
"""

__version__ = "1.0.0"
