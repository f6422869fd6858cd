"""Deleting rows that other rows may still reference."""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import ProtectedError

from backend.errors import ApplicationError


def delete_unless_used(obj: models.Model, *, label: str, experiments_using: int) -> None:
    """Delete ``obj`` or refuse with 409 while experiments use it.

    The count gives a helpful message; the database's PROTECT constraint still
    refuses a reference created between the count and the delete.
    """
    in_use = f"{label} cannot be deleted while experiments use it."
    if experiments_using:
        raise ApplicationError(f"{in_use} It is used by {experiments_using} experiment(s).", status_code=409)
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError:
        raise ApplicationError(in_use, status_code=409) from None
