"""GoTrue's error codes and bodies (spec §1.12); the codes are GoTrue's, verbatim.

With `X-Supabase-Api-Version: 2024-01-01` (both official clients send it) the body is
`{code, message}` and the header is echoed with `x-sb-error-code`; without it, the legacy
`{code: <status>, error_code, msg, error_id}`. A weak password adds `weak_password.reasons`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from neo.core.errors import InvalidToken, NeoError, request_id_of

API_VERSION_HEADER = "x-supabase-api-version"
API_VERSION = "2024-01-01"


class AuthError(NeoError):
    """Base of the auth capability's errors."""

    status, code, message = 400, "validation_failed", "Invalid request"


def _error(name: str, status: int, code: str, message: str) -> type[AuthError]:
    return type(name, (AuthError,), {"status": status, "code": code, "message": message})


ValidationFailed = _error("ValidationFailed", 400, "validation_failed", "Invalid request")
BadJson = _error("BadJson", 400, "bad_json", "Could not parse request body as JSON")
RequestTooLarge = _error("RequestTooLarge", 413, "request_too_large", "Request body too large")
InvalidCredentials = _error(
    "InvalidCredentials", 400, "invalid_credentials", "Invalid login credentials"
)
EmailNotConfirmed = _error("EmailNotConfirmed", 400, "email_not_confirmed", "Email not confirmed")
UserBanned = _error("UserBanned", 400, "user_banned", "User is banned")
UserAlreadyExists = _error(
    "UserAlreadyExists", 422, "user_already_exists", "User already registered"
)
EmailExists = _error(
    "EmailExists", 422, "email_exists", "A user with this email address has already been registered"
)
SamePassword = _error(
    "SamePassword", 422, "same_password",
    "New password should be different from the old password.",
)  # fmt: skip
SignupDisabled = _error(
    "SignupDisabled", 422, "signup_disabled", "Signups not allowed for this instance"
)
AnonymousDisabled = _error(
    "AnonymousDisabled", 422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled"
)
EmailProviderDisabled = _error(
    "EmailProviderDisabled", 422, "email_provider_disabled", "Email logins are disabled"
)
PasswordCheckUnavailable = _error(
    "PasswordCheckUnavailable", 503, "unexpected_failure",
    "Unable to perform password strength check with HaveIBeenPwned.org.",
)  # fmt: skip
NoAuthorization = _error(
    "NoAuthorization", 401, "no_authorization", "This endpoint requires a valid Bearer token"
)
NotAdmin = _error("NotAdmin", 403, "not_admin", "User not allowed")
UserNotFound = _error("UserNotFound", 404, "user_not_found", "User not found")
SessionNotFound = _error(
    "SessionNotFound",
    403,
    "session_not_found",
    "Session from session_id claim in JWT does not exist",
)
SessionExpired = _error("SessionExpired", 400, "session_expired", "Session expired")
RefreshTokenNotFound = _error(
    "RefreshTokenNotFound", 400, "refresh_token_not_found",
    "Invalid Refresh Token: Refresh Token Not Found",
)  # fmt: skip
RefreshTokenAlreadyUsed = _error(
    "RefreshTokenAlreadyUsed", 400, "refresh_token_already_used",
    "Invalid Refresh Token: Already Used",
)  # fmt: skip
FlowStateNotFound = _error(
    "FlowStateNotFound",
    404,
    "flow_state_not_found",
    "invalid flow state, no valid flow state found",
)
FlowStateExpired = _error(
    "FlowStateExpired", 422, "flow_state_expired",
    "invalid flow state, flow state has expired",
)  # fmt: skip
BadCodeVerifier = _error(
    "BadCodeVerifier",
    400,
    "bad_code_verifier",
    "code challenge does not match previously saved code verifier",
)
OtpExpired = _error("OtpExpired", 403, "otp_expired", "Token has expired or is invalid")
ReauthenticationNeeded = _error(
    "ReauthenticationNeeded", 400, "reauthentication_needed",
    "Password update requires reauthentication",
)  # fmt: skip
ReauthenticationNotValid = _error(
    "ReauthenticationNotValid", 422, "reauthentication_not_valid",
    "Requires a valid reauthentication nonce",
)  # fmt: skip
OverRequestRateLimit = _error(
    "OverRequestRateLimit", 429, "over_request_rate_limit", "Request rate limit reached"
)
OverEmailSendRateLimit = _error(
    "OverEmailSendRateLimit", 429, "over_email_send_rate_limit", "email rate limit exceeded"
)
InsufficientAal = _error("InsufficientAal", 403, "insufficient_aal", "AAL2 session is required")
MfaVerificationFailed = _error(
    "MfaVerificationFailed", 422, "mfa_verification_failed", "Invalid TOTP code entered"
)
MfaFactorNotFound = _error("MfaFactorNotFound", 404, "mfa_factor_not_found", "Factor not found")
MfaFactorNameConflict = _error(
    "MfaFactorNameConflict", 422, "mfa_factor_name_conflict",
    "A factor with this friendly name already exists",
)  # fmt: skip
TooManyFactors = _error(
    "TooManyFactors", 422, "too_many_enrolled_mfa_factors",
    "Maximum number of verified factors reached, unenroll to continue",
)  # fmt: skip
MfaChallengeExpired = _error(
    "MfaChallengeExpired", 422, "mfa_challenge_expired", "MFA challenge has expired"
)


class WeakPassword(AuthError):
    """The password fails the policy; `reasons` as GoTrue names them (length, characters)."""

    status, code = 422, "weak_password"

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message, details={"weak_password": {"reasons": reasons}})


class PublicServerError(AuthError):
    """A 5xx whose message GoTrue shows as is (e.g. a failing trigger on auth.users)."""

    status, code, message = 500, "unexpected_failure", "Database error saving new user"
    expose = True


def retry_after(error: NeoError, seconds: int) -> NeoError:
    """`error` with a Retry-After header."""
    error.headers["Retry-After"] = str(max(1, seconds))
    return error


def render_gotrue_error(error: NeoError, request: Request) -> JSONResponse:
    """Render `error` as GoTrue does for this request's API version."""
    status, code, message = error.status, error.code, error.message
    if isinstance(error, InvalidToken):
        status, code = 403, "bad_jwt"
        message = f"invalid JWT: unable to parse or verify signature, {error.reason}"
    headers = dict(error.headers) | {"x-sb-error-code": code}
    extra: dict[str, Any] = error.details if isinstance(error.details, dict) else {}
    extra = {k: v for k, v in extra.items() if k == "weak_password"}
    if request.headers.get(API_VERSION_HEADER, "") >= API_VERSION:
        headers[API_VERSION_HEADER] = API_VERSION
        body: dict[str, Any] = {"code": code, "message": message} | extra
        return JSONResponse(body, status_code=status, headers=headers)
    body = {"code": status, "error_code": code, "msg": message, "error_id": request_id_of(request)}
    return JSONResponse(body | extra, status_code=status, headers=headers)
