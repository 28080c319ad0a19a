"""OAuth / OIDC sign-in as a client: `GET /authorize` sends the browser to the provider with
state, nonce and PKCE; `GET|POST /callback` exchanges the code, verifies the account and
redirects to the app with a session (implicit) or a code (PKCE), as GoTrue does.

An existing account is linked only on an email the provider marks verified (and only for
providers trusted to verify it); otherwise the sign-in fails with `email_exists`.
"""
