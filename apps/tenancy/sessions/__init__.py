"""
Signed-in sessions of users: one ``UserSession`` row per Django session.

The row keeps a hash of the session key (never the key), the client and its
device, and when it was last seen; revoking the row ends the session at its
next request. A short cache of each live session keeps the check off the
database on most requests, as the token verification cache does for tokens.
"""
