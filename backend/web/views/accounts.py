"""Log in, log out and change password, on Django's own auth views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views

from backend.web.pages import current_team, nav_context


class NavContextMixin:
    """Gives auth pages the same top bar as the team pages."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(nav_context(self.request, current_team(self.request)))
        return context


class PasswordChangeView(NavContextMixin, auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"


class PasswordChangeDoneView(NavContextMixin, auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


login = auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True)
logout = auth_views.LogoutView.as_view()
password_change = PasswordChangeView.as_view()
password_change_done = PasswordChangeDoneView.as_view()
