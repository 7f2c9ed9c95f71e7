from django.db import models


class Role(models.TextChoices):
    """The five roles of a membership, from most to least powerful."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"
    AUDITOR = "auditor", "Auditor"


class TokenScope(models.TextChoices):
    """What an API token may do, never more than its membership's role."""

    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"
