"""The placeholder syntax of customer message templates: a strict parser and a data-only substitution.

A template may contain only `{{ name }}` tokens whose name is in PLACEHOLDERS. Templates are
never handed to Django's template engine, so no tag, filter or attribute lookup can run, and
substitution makes one pass over the template source: a value that itself contains `{{ x }}`
or `{% load static %}` is copied out literally.
"""

import re
from collections.abc import Callable, Mapping

# Each allowed placeholder and what it is replaced with. The editor shows this list.
PLACEHOLDERS: dict[str, str] = {
    "customer_name": "The customer's name as recorded on the entry.",
    "reference": "The entry's reference, such as BL-000123.",
    "order_reference": "The order number the customer knows, from the shop or marketplace.",
    "eta": "The expected resolution time (the entry's ETA) in the site's time zone.",
    "next_update_at": "When the customer will hear from us next, in the site's time zone.",
    "timeline": "The entry's recent steps, one per line, without staff notes.",
    "support_contact": "How the customer reaches support (the site's support contact).",
}

# A well-formed token: an identifier between double braces, spaces allowed inside.
TOKEN = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
# Anything that opens like a token, up to the nearest closing braces (or the end of the text).
TOKEN_CANDIDATE = re.compile(r"\{\{(.*?)(\}\}|$)", re.DOTALL)


class TemplateSyntaxProblem(ValueError):
    """Raised by `check_template` with every problem found, each as one sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def template_problems(source: str) -> list[str]:
    """List what makes `source` an invalid template, in order of appearance, or nothing when it is valid."""
    problems: list[str] = []
    if "{%" in source:
        problems.append("Template tags ({% ... %}) are not allowed; use only {{ placeholder }} tokens.")
    if "{#" in source:
        problems.append("Template comments ({# ... #}) are not allowed.")

    for match in TOKEN_CANDIDATE.finditer(source):
        inner, closing = match.group(1), match.group(2)
        if not closing:
            problems.append(f"Unclosed placeholder {{{{{_shorten(inner)}: add the closing }}}}.")
            continue
        name = inner.strip()
        if "|" in name:
            problems.append(f"Filters are not allowed in {{{{{inner}}}}}; use the bare placeholder name.")
        elif "." in name:
            problems.append(f"Attribute traversal is not allowed in {{{{{inner}}}}}; use one of the listed placeholders.")
        elif not TOKEN.fullmatch(match.group(0)):
            problems.append(f"Invalid placeholder {{{{{inner}}}}}: a placeholder is a lower-case name such as customer_name.")
        elif name not in PLACEHOLDERS:
            problems.append(f"Unknown placeholder {name}.")
    return problems


def check_template(source: str) -> None:
    """Raise TemplateSyntaxProblem listing every problem in `source`, unless it is valid."""
    problems = template_problems(source)
    if problems:
        raise TemplateSyntaxProblem(problems)


def placeholders_used(source: str) -> list[str]:
    """Return the placeholder names of a valid template, each once, in order of first use."""
    return list(dict.fromkeys(TOKEN.findall(source)))


def substitute(source: str, values: Mapping[str, str], *, convert: Callable[[str], str] = str) -> str:
    """Replace each token of a valid template with `convert(value)` in a single pass.

    The replacement text is never scanned again, which is what keeps values as data.
    """
    return TOKEN.sub(lambda match: convert(values[match.group(1)]), source)


def _shorten(text: str, limit: int = 30) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else f"{text[:limit]}..."
