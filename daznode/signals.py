"""What the API plumbing tells the apps to its right, so that it never imports them.

auth_vault listens and keeps the access log (auth_vault.signals).
"""

from django.dispatch import Signal

# A request refused by a rate limit or by the bound on concurrent logins; sent with `actor`, `ip`, `detail`.
request_refused = Signal()
# An API token pair issued for a username and password; sent with `username` and `ip`.
token_issued = Signal()
