"""The standard-address tree as the addresses page shows it: nested nodes with occupancy counts.

Two queries whatever the size of the tree: the nodes, and one aggregate of current residents
(persons with a house, not moved out) grouped by the code of their house's address. Counts are
summed up the tree in Python, so a unit's count is the sum of its floors', a floor's of its rooms'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count

from registry.models import Address, Person

__all__ = ["MAX_QUERY_LENGTH", "TreeNode", "build_address_tree"]

# A search longer than any full address cannot match; longer input is cut, not refused.
MAX_QUERY_LENGTH = 100


@dataclass
class TreeNode:
    """One address with its children, current residents beneath it and search state."""

    address: Address
    children: list[TreeNode] = field(default_factory=list)
    residents: int = 0
    match: bool = False  # the node itself matches the search
    open: bool = False  # a node beneath it matches the search: show it expanded

    @property
    def level(self) -> str:
        return self.address.level


def _matches(address: Address, terms: list[str]) -> bool:
    text = f"{address.full_name} {address.code} {address.number}{address.label}".lower()
    return all(term in text for term in terms)


def _shorthand(query: str) -> list[str] | None:
    """``3-2-501`` → ``["3", "2", "501"]`` (building, unit, then floor or room numbers)."""
    parts = query.split("-")
    if len(parts) < 2 or not all(p.strip() for p in parts):
        return None
    return [p.strip() for p in parts]


def _path_matches(numbers: list[str], path: list[str]) -> bool:
    """Whether the numbers from the building down to a node fit the shorthand path.

    Each part names one level (``3-2-5``: building 3, unit 2, floor 5); three parts may also
    name the room directly (``3-2-501``: building 3, unit 2, room 501 on whatever floor).
    """
    if numbers == path:
        return True
    return len(path) == 3 and len(numbers) == 4 and numbers[:2] == path[:2] and numbers[3] == path[2]


def build_address_tree(query: str = "") -> list[TreeNode]:
    """The buildings of the current compound, each with its units, floors and rooms.

    With ``query``, only nodes matching it (by number, full address or code; all of its words;
    or a ``building-unit-room`` shorthand), what is beneath them and their ancestors are kept;
    ancestors of a match are open.
    """
    addresses = Address.objects.order_by("code").only("id", "level", "number", "code", "full_name", "parent_id")
    nodes: dict[int, TreeNode] = {}
    roots: list[TreeNode] = []
    parents: dict[int, int | None] = {}
    for address in addresses:
        node = TreeNode(address)
        nodes[address.pk] = node
        parents[address.pk] = address.parent_id
        parent = nodes.get(address.parent_id) if address.parent_id else None
        # Codes extend their parent's code, so ordering by code puts every parent first.
        (parent.children if parent else roots).append(node)

    occupancy = (
        Person.objects.filter(house__isnull=False, move_out_date__isnull=True)
        .order_by()
        .values_list("house__address_id")
        .annotate(n=Count("pk"))
    )
    for address_id, n in occupancy:
        pk: int | None = address_id
        while pk is not None and pk in nodes:
            nodes[pk].residents += n
            pk = parents[pk]

    query = query.strip()[:MAX_QUERY_LENGTH].lower()
    if not query:
        return roots
    terms = query.split()
    path = _shorthand(query)

    def keep(node: TreeNode, numbers: list[str]) -> bool:
        numbers = [*numbers, node.address.number.lower()]
        node.match = _matches(node.address, terms) or (path is not None and _path_matches(numbers, path))
        kept = [child for child in node.children if keep(child, numbers)]
        node.open = bool(kept)
        if not node.match:
            # Only the way to what matched; a matching node keeps all that is beneath it.
            node.children = kept
        return node.match or node.open

    return [root for root in roots if keep(root, [])]
