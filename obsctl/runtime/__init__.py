"""Small programs the local target runs under supervisord (stdlib only, so they start fast):
the webhook sink, the traffic generator and the app launcher."""
