from django.db import models


class AuditAction(models.TextChoices):
    """What an audit event records.

    The first eight come from model changes; a soft delete (``deleted_at`` set)
    is a ``delete``, clearing it a ``restore``, and removing a soft-deleted row
    for good a ``purge``. A service names the change it makes where it is more
    than a create or update (``allocate``, ``move``, ``resize``). The others
    are access events and the audit trail's own housekeeping.
    """

    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    RESTORE = "restore", "Restore"
    PURGE = "purge", "Purge"
    ALLOCATE = "allocate", "Allocate"
    MOVE = "move", "Move"
    RESIZE = "resize", "Resize"
    CREDENTIALS_SET = "credentials_set", "Credentials set"
    CONNECTIVITY_CHECK = "connectivity_check", "Connectivity test"
    DISCOVER_MEMBERS = "discover_members", "Member discovery"
    COLLECT = "collect", "Collection"
    SYNC = "sync", "Sync run"
    LINK = "link", "Linked to a cloud resource"
    DRIFT_APPLY = "drift_apply", "Drift suggestion applied"
    DRIFT_IGNORE = "drift_ignore", "Drift finding ignored"
    PLAN_VALIDATE = "plan_validate", "Plan validated"
    PLAN_APPLY = "plan_apply", "Plan applied"
    PLAN_DISCARD = "plan_discard", "Plan discarded"
    PLAN_ROLLBACK = "plan_rollback", "Plan rolled back"
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"
    LOGIN = "login", "Login"
    LOGOUT = "logout", "Logout"
    LOGIN_FAILED = "login_failed", "Failed login"
    TOKEN_CREATED = "token_created", "Token created"
    TOKEN_FIRST_USED = "token_first_used", "Token used for the first time"
    TOKEN_REVOKED = "token_revoked", "Token revoked"
    MEMBER_ADDED = "member_added", "Member added"
    ROLE_CHANGED = "role_changed", "Role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    SSO_PROVISIONED = "sso_provisioned", "SSO provisioning"
    MFA_ENROLLED = "mfa_enrolled", "MFA enrolled"
    MFA_VERIFIED = "mfa_verified", "MFA verified"
    MFA_FAILED = "mfa_failed", "MFA failed"
    MFA_RESET = "mfa_reset", "MFA reset"
    SESSION_REVOKED = "session_revoked", "Session revoked"
    RETENTION = "retention", "Retention"


class LoginFailedReason(models.TextChoices):
    """Why a sign-in failed, in a ``login_failed`` event's details."""

    INVALID_CREDENTIALS = "invalid_credentials", "Invalid credentials"
    RATE_LIMITED = "rate_limited", "Too many attempts"


class ActorType(models.TextChoices):
    """Who acted: a person, an API token, the system (a task or command), or nobody known."""

    USER = "user", "User"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Anonymous"


class ExportFormat(models.TextChoices):
    """The formats of ``/api/v1/audit/events/export/``."""

    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON lines"
    PDF = "pdf", "PDF summary"
