"""The identity capability's errors, in NEO's native shape (`{code, message, request_id}`,
rendered by the app's default renderer): one family under `IdentityError`.

404 for what the caller may not see, 403 when it is visible but the caller's role is too low,
409 for conflicts, 410 for invitations that can no longer be used, 422 for malformed input.
"""

from __future__ import annotations

from neo.core.errors import NeoError


class IdentityError(NeoError):
    """Base of every identity error."""

    status, code, message = 400, "identity_error", "Identity error"


class AuthRequired(IdentityError):
    status, code, message = 401, "auth_required", "Identity routes need a user or service token"


class ForeignSubject(IdentityError):
    status, code = 403, "foreign_subject"
    message = "The token's subject is not a NEO user id (a UUID): identity has nothing of it"


class OrgNotFound(IdentityError):
    status, code, message = 404, "org_not_found", "Organization not found"


class MemberNotFound(IdentityError):
    status, code, message = 404, "member_not_found", "Membership not found"


class UserNotFound(IdentityError):
    status, code, message = 404, "user_not_found", "User not found"


class ProjectNotFound(IdentityError):
    status, code, message = 404, "project_not_found", "Project not found"


class InvitationNotFound(IdentityError):
    status, code, message = 404, "invitation_not_found", "Invitation not found"


class RoleTooLow(IdentityError):
    status, code, message = 403, "insufficient_role", "Your role in this organization is too low"


class EmailMismatch(IdentityError):
    status, code, message = 403, "invitation_email_mismatch", "The invitation is for another email"


class PersonalOrg(IdentityError):
    status, code, message = 409, "personal_org", "A personal organization cannot be deleted"


class LastOwner(IdentityError):
    status, code, message = 409, "last_owner", "An organization keeps at least one owner"


class SlugTaken(IdentityError):
    status, code, message = 409, "slug_taken", "That slug is taken"


class AlreadyMember(IdentityError):
    status, code, message = 409, "already_member", "The user is already a member"


class InvitationUsed(IdentityError):
    status, code, message = 409, "invitation_used", "The invitation was already accepted"


class InvitationExpired(IdentityError):
    status, code, message = 410, "invitation_expired", "The invitation has expired"


class InvitationRevoked(IdentityError):
    status, code, message = 410, "invitation_revoked", "The invitation was revoked"


class InvalidInput(IdentityError):
    status, code, message = 422, "invalid_input", "Invalid input"


class NotAUser(IdentityError):
    status, code, message = 403, "user_required", "Only a signed-in user can do this"


class ServiceAccountNotFound(IdentityError):
    status, code, message = 404, "service_account_not_found", "Service account not found"


class ApiKeyNotFound(IdentityError):
    status, code, message = 404, "api_key_not_found", "API key not found"


class ApiKeyRevoked(IdentityError):
    status, code, message = 409, "api_key_revoked", "The API key was already revoked"


class ScopeTooNarrow(IdentityError):
    status, code, message = 403, "insufficient_scope", "The API key lacks the permission"


class RoleNotFound(IdentityError):
    status, code, message = 404, "role_not_found", "Role not found"


class RoleExists(IdentityError):
    status, code, message = 409, "role_exists", "A role with that name exists"


class RoleInUse(IdentityError):
    status, code, message = 409, "role_in_use", "Members still hold this role"
