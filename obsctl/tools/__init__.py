"""Adapters, one per external system. Only these modules import third-party clients
(python_terraform, pyhelm3, kubernetes, boto3, supervisor, httpx); each translates that
system's failures into obsctl errors and never prints."""
