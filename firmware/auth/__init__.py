"""Authentication and cross-site defences for the web app.

* :mod:`~firmware.auth.passwords`: the scrypt-hashed password file; no default password.
* :mod:`~firmware.auth.sessions`: login sessions (cookie + CSRF token), ended by a password change.
* :mod:`~firmware.auth.throttle`: failed-login throttling per client.
* :mod:`~firmware.auth.setup`: first-start proof of physical access (setup code, shutter button).
* :mod:`~firmware.auth.hosts`: Host allow-list (DNS rebinding) and same-origin test.
* :mod:`~firmware.auth.middleware`: the guard in front of every route.
* :mod:`~firmware.auth.security`: the object tying them together (``app.state.security``).
"""
