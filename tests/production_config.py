"""Facts about the production configuration that the settings and deployment tests share."""

import ast

from tests.conftest import REPO_ROOT


def production_required_variables() -> list[str]:
    """Return the names listed in REQUIRED_VARIABLES of config/settings/production.py.

    The file is parsed, not imported, because importing it fails unless they are all set.
    """
    tree = ast.parse((REPO_ROOT / "config" / "settings" / "production.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "REQUIRED_VARIABLES" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise LookupError("config/settings/production.py defines no REQUIRED_VARIABLES.")
