"""The console endpoint that remembers a user's columns and page size for one table."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.tenancy.preferences import table_preference_save
from cloudpam.tables import PAGE_SIZES, all_tables


class TablePreferenceView(LoginRequiredMixin, View):
    """Save the columns shown and the rows per page of one table, then go back to it."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, table: str) -> HttpResponse:
        declared = all_tables().get(table)
        if declared is None:
            raise Http404("No such table.")
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = "/"
        if request.POST.get("reset"):
            table_preference_save(user=request.user, table=table, columns=[], page_size=None)
            messages.success(request, "The table shows its default columns again.")
            return HttpResponseRedirect(back)
        known = declared.column_keys()
        chosen = request.POST.getlist("columns")
        unknown = sorted(set(chosen) - set(known))
        size = request.POST.get("per_page", "")
        if unknown:
            messages.error(request, f"This table has no column {', '.join(unknown)[:200]}.")
            return HttpResponseRedirect(back)
        if size and not (size.isascii() and size.isdigit() and int(size) in PAGE_SIZES):
            messages.error(request, f"A page holds {', '.join(map(str, PAGE_SIZES))} rows.")
            return HttpResponseRedirect(back)
        required = [column.key for column in declared.columns if column.required]
        columns = [key for key in known if key in chosen or key in required]
        table_preference_save(
            user=request.user, table=table, columns=columns, page_size=int(size) if size else None
        )
        messages.success(request, "Columns saved.")
        return HttpResponseRedirect(back)
