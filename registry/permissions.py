"""What the registry's pages and API need: one declaration, read by both.

Keys are the API's viewset actions; the pages map their methods onto the same keys (the list
page is ``list``, the edit form ``partial_update`` …), so a page and the endpoint doing the
same thing can never drift apart. Changing a record may also be allowed by a per-object
grant (``change``) on that record; deleting never is.
"""

from __future__ import annotations

from district.permissions import CHANGE_REGISTRY, VIEW_REGISTRY, Need, need

READ = need(VIEW_REGISTRY)
CREATE = need(CHANGE_REGISTRY)
CHANGE = need(CHANGE_REGISTRY, grant="change")
DELETE = need(CHANGE_REGISTRY)

RECORD_PERMISSIONS: dict[str, Need] = {
    "list": READ,
    "retrieve": READ,
    "metadata": READ,
    "create": CREATE,
    "update": CHANGE,
    "partial_update": CHANGE,
    "destroy": DELETE,
}
