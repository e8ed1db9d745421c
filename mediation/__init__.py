"""mediation app (compound schema). Its models arrive with their issue; the app is registered now so
that it never has to move between SHARED_APPS and TENANT_APPS (DESIGN.md §2)."""
