"""The sandbox capability's errors, rendered in NEO's native shape (`{code, message,
request_id}`, by the app's default renderer): one family under `SandboxError`."""

from __future__ import annotations

from neo.core.errors import NeoError


class SandboxError(NeoError):
    """Base of every sandbox error."""

    status, code, message = 400, "sandbox_error", "Sandbox error"


class SandboxNotFound(SandboxError):
    status, code, message = 404, "sandbox_not_found", "Sandbox not found"


class OrgNotFound(SandboxError):
    """No such organization, or the caller is not in it (the same answer: no probing)."""

    status, code, message = 404, "org_not_found", "Organization not found"


class SandboxForbidden(SandboxError):
    """The caller may see the sandbox (or org) but not act on it: a viewer, or a key
    without `sandboxes:write`."""

    status, code, message = 403, "insufficient_role", "Not allowed to act on this sandbox"


class SandboxNameTaken(SandboxError):
    status, code, message = 409, "sandbox_name_taken", "A sandbox of that name exists"


class SandboxNotRunning(SandboxError):
    status, code, message = 409, "sandbox_not_running", "The sandbox is not running"


class QuotaExceeded(SandboxError):
    status, code, message = 403, "sandbox_quota_exceeded", "Sandbox quota exceeded"


class InvalidLimits(SandboxError):
    status, code, message = 422, "invalid_limits", "Limits out of range"


class PolicyNotSupported(SandboxError):
    status, code, message = 422, "policy_not_supported", "Network policy not supported"


class NoSlotLeft(SandboxError):
    status, code, message = 503, "no_slot_left", "No sandbox slot left on this host"
    expose = True


class IsolationUnavailable(SandboxError):
    """The host lacks isolation the settings require; the message names what."""

    status, code, message = 503, "isolation_unavailable", "Sandbox isolation unavailable"
    expose = True


class SandboxAuthRequired(SandboxError):
    status, code, message = 401, "auth_required", "Sandboxes need a user or service token"


class InvalidPath(SandboxError):
    status, code, message = 400, "invalid_path", "Invalid path"


class PathNotFound(SandboxError):
    status, code, message = 404, "path_not_found", "No such file or directory"


class PathExists(SandboxError):
    status, code, message = 409, "path_exists", "Path exists"


class NotADirectory(SandboxError):
    status, code, message = 400, "not_a_directory", "Not a directory"


class FileTooLarge(SandboxError):
    status, code, message = 413, "file_too_large", "Upload too large"


class WorkspaceFull(SandboxError):
    status, code, message = 413, "workspace_full", "The sandbox's disk quota is used up"


class SandboxStartFailed(SandboxError):
    """The runtime failed to start a sandbox (logged with its reason; 5xx bodies hide it)."""

    status, code, message = 500, "sandbox_start_failed", "The sandbox failed to start"


class InvalidTerminal(SandboxError):
    status, code, message = 422, "invalid_terminal", "Invalid terminal parameters"


class CommandNotFound(SandboxError):
    status, code, message = 404, "command_not_found", "No such background command"


class SessionNotFound(SandboxError):
    status, code, message = 404, "session_not_found", "No such session"


class SessionExists(SandboxError):
    status, code, message = 409, "session_exists", "A session of that id exists"


class CommandFailed(SandboxError):
    status, code, message = 422, "command_failed", "The command could not be started"


class PortsDisabled(SandboxError):
    status, code, message = 409, "ports_disabled", "Sandboxes here cannot serve ports"


class PreviewDenied(SandboxError):
    status, code, message = 403, "preview_denied", "Preview token missing or not valid"


class PreviewUnavailable(SandboxError):
    """Nothing answers HTTP on the port inside (the message says what happened)."""

    status, code, message = 502, "preview_unavailable", "The sandbox's port does not answer"
    expose = True


class RequestTooLarge(SandboxError):
    status, code, message = 413, "request_too_large", "Request body too large"
