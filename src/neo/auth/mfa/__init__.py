"""MFA with TOTP: enroll (QR code SVG, secret, otpauth URI), challenge, verify -> aal2,
unenroll, and the admin's view of a user's factors (GoTrue's `/factors` API, spec §1.8).

Hardened beyond GoTrue: a TOTP code is accepted once (its time step is remembered), a
challenge allows five wrong codes, and verifying replaces the session's refresh token so a
pre-MFA token counts as reuse (auth-security C3, E8).
"""

from neo.auth.mfa.router import router

__all__ = ["router"]
