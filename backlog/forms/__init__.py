"""Django forms of the backlog app's pages."""
