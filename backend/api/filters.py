"""Filter backends shared by the API views."""

from __future__ import annotations

from rest_framework.filters import OrderingFilter


class MappedOrderingFilter(OrderingFilter):
    """``?ordering=`` over public names that map to other lookups (``view.ordering_map``).

    A run's figures live on its execution; clients still order by
    ``final_accuracy``, not by the path to it.
    """

    def get_valid_fields(self, queryset, view, context=None):
        return [(name, name) for name in view.ordering_map]

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        lookups = []
        for term in ordering:
            descending = term.startswith("-")
            lookup = view.ordering_map[term.lstrip("-")]
            lookups.append(f"-{lookup}" if descending else lookup)
        return queryset.order_by(*lookups, "id")
