"""
Multi-factor authentication for local accounts: TOTP and recovery codes.

Built on django-otp: a confirmed ``TOTPDevice`` is the authenticator app, a
``StaticDevice`` holds the ten recovery codes. django-otp keeps static tokens
in clear text; here each token row holds a keyed hash of its code instead
(``codes.recovery_code_digest``), so a database dump does not hand out a way in.
"""
