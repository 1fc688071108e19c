"""The JSON Schema of report.json (``report.schema.json``, shipped as package data) and its validator."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from conformance.spec import ConformanceError


class ReportSchemaError(ConformanceError):
    """A report does not match report.schema.json; the message names the JSON path and the problem."""


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("conformance.report").joinpath("report.schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The schema as a fresh dict (JSON Schema draft 2020-12)."""
    return json.loads(_schema_text())


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise :class:`ReportSchemaError` (one line per problem, at most 5) unless ``report`` matches the schema.

    Needs the ``jsonschema`` package (``pip install 'lstm-conformance[reports]'``).
    """
    try:
        import jsonschema
    except ImportError:
        raise ConformanceError("validate_report needs jsonschema: pip install 'lstm-conformance[reports]'") from None
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted((_deepest(err) for err in validator.iter_errors(report)), key=lambda err: list(err.absolute_path))
    if errors:
        lines = [f"{_path(err)}: {_short(err.message)}" for err in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportSchemaError("report does not match report.schema.json: " + "; ".join(lines) + more)


def _deepest(err: Any) -> Any:
    """For oneOf/anyOf failures, the sub-error that got furthest (it names the real path and problem)."""
    from jsonschema.exceptions import best_match

    while err.context:
        err = best_match(err.context)
    return err


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _path(err: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
