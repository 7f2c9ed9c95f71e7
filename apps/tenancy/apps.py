from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Users, organizations, memberships, roles and API tokens."""

    name = "apps.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and access"

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_migrate

        from apps.tenancy import rls
        from apps.tenancy.admin_mixins import restrict_unmapped_admins

        connection_created.connect(rls.on_connection_created, dispatch_uid="tenancy.rls.connect")
        # Sent once per migrate run for this app: before any migration, and
        # after all of them, when every app's tables exist.
        pre_migrate.connect(rls.on_pre_migrate, sender=self, dispatch_uid="tenancy.rls.pre")
        post_migrate.connect(rls.on_post_migrate, sender=self, dispatch_uid="tenancy.rls.post")
        # The admin has registered every app's classes by now (django.contrib.admin
        # comes first in INSTALLED_APPS and autodiscovers in its ready()).
        restrict_unmapped_admins(admin.site)

        from django.contrib.auth import signals as auth_signals

        from apps.tenancy.mfa import receivers as mfa_receivers
        from apps.tenancy.sessions import receivers as session_receivers

        auth_signals.user_logged_in.connect(
            session_receivers.on_user_logged_in, dispatch_uid="tenancy.sessions.login"
        )
        auth_signals.user_logged_in.connect(
            mfa_receivers.on_user_logged_in, dispatch_uid="tenancy.mfa.login"
        )
        auth_signals.user_logged_out.connect(
            session_receivers.on_user_logged_out, dispatch_uid="tenancy.sessions.logout"
        )
