"""What each role may do, and the one function that answers "may this user do X here?".

Scope (which compounds a role covers) lives in ``district.scope``; this module adds the
capability layer on top: a user in scope without the capability gets 403, a user out of
scope gets 404 (from the compound middleware or a scoped queryset). Per-object exceptions
(e.g. a mediator allowed to edit one record) are django-guardian grants inside the
compound's schema, checked by ``can_change_object``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from district.choices import ROLE_LEVEL, AreaLevel, Role
from district.models import Area, RoleAssignment
from district.scope import assignments_of, beneath, held_path, node_path, role_assignments_beneath
from district.typing import AnyUser
from tenants.models import Compound

if TYPE_CHECKING:
    from django.contrib.auth.models import User

VIEW_REGISTRY = "registry.view"
CHANGE_REGISTRY = "registry.change"
VIEW_PII = "pii.view"
SET_KEY_PERSON = "registry.key_person"
ASSIGN_ROLES = "roles.assign"
VIEW_AUDIT = "audit.view"
# Access control (issue #9).
VIEW_ACCESS = "access.view"  # devices and their state, the compound's event log (no snapshots)
MANAGE_DEVICES = "access.devices"  # add, disable and revoke devices, issue their credentials
ENROL_FACES = "access.enrol"  # record biometric consent, enrol and remove face photos, cards
ISSUE_PASSES = "access.passes"  # visitor passes and remote opening
SEARCH_PASSAGES = "access.search"  # 案件研判: pass search with snapshots (police work)
VIEW_WATCHLIST = "watchlist.view"  # the city watch-list and its hits
MANAGE_WATCHLIST = "watchlist.manage"  # 布控: add, change and end watch-list entries
SCREEN_IDS = "watchlist.screen"  # screen lists of ID numbers against the watch-list
# Alerts (issue #10). Police-only alert models (watch-list hits) also need VIEW_WATCHLIST.
VIEW_ALERTS = "alerts.view"  # the live alert panel of one's scope
HANDLE_ALERTS = "alerts.handle"  # acknowledge, dispatch, resolve, mark as false alarm
CONFIGURE_ALERTS = "alerts.configure"  # a compound's alert models: on/off, severity, thresholds
SEND_BROADCASTS = "alerts.broadcast"  # 群防群治: messages to the patrol members of an area
# Dispute mediation (issue #11). Assigned mediators edit their cases through object grants.
VIEW_CASES = "mediation.view"  # the compound's cases (parties' ID numbers masked without pii.view)
RECORD_CASES = "mediation.record"  # register cases and move them through the workflow
VIEW_CASE_STATS = "mediation.stats"  # statistics of the scope (public figures, no case details)
MANAGE_MEDIATORS = "mediators.manage"  # the city's mediator roster
# Incidents, the safety index and dashboards (issue #12).
VIEW_DASHBOARD = "safety.dashboard"  # the safety index and dashboards of one's scope
MANAGE_INCIDENTS = "safety.incidents"  # enter, import and assign 110 incidents (police)
CONFIGURE_INDEX = "safety.configure"  # the city's index weights
REQUEST_REPORTS = "safety.reports"  # monthly reports of a street or district

ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    # 市局: sees everything in the city, unmasked; reads the audit log; no day-to-day data entry.
    Role.CITY_BUREAU: frozenset(
        {VIEW_REGISTRY, VIEW_PII, SET_KEY_PERSON, ASSIGN_ROLES, VIEW_AUDIT}
        | {VIEW_ACCESS, SEARCH_PASSAGES, VIEW_WATCHLIST, MANAGE_WATCHLIST, SCREEN_IDS}
        | {VIEW_ALERTS, HANDLE_ALERTS, SEND_BROADCASTS}
        | {VIEW_CASES, VIEW_CASE_STATS, MANAGE_MEDIATORS}
        | {VIEW_DASHBOARD, MANAGE_INCIDENTS, CONFIGURE_INDEX, REQUEST_REPORTS}
    ),
    # 分局: as the city bureau for its district, without the audit log.
    Role.DISTRICT_BRANCH: frozenset(
        {VIEW_REGISTRY, VIEW_PII, SET_KEY_PERSON, ASSIGN_ROLES}
        | {VIEW_ACCESS, SEARCH_PASSAGES, VIEW_WATCHLIST, MANAGE_WATCHLIST, SCREEN_IDS}
        | {VIEW_ALERTS, HANDLE_ALERTS, CONFIGURE_ALERTS, SEND_BROADCASTS}
        | {VIEW_CASES, VIEW_CASE_STATS, MANAGE_MEDIATORS}
        | {VIEW_DASHBOARD, MANAGE_INCIDENTS, REQUEST_REPORTS}
    ),
    # 街道办: runs the registry of its compounds and staffs them; sees PII masked.
    # Street offices oversee their compounds' devices; they do not handle faces or search passages.
    Role.STREET_OFFICE: frozenset(
        {VIEW_REGISTRY, CHANGE_REGISTRY, ASSIGN_ROLES, VIEW_ACCESS, VIEW_ALERTS, HANDLE_ALERTS, SEND_BROADCASTS}
        | {VIEW_CASES, RECORD_CASES, VIEW_CASE_STATS, MANAGE_MEDIATORS, VIEW_DASHBOARD, REQUEST_REPORTS}
    ),
    # 物业 and 网格员: keep the registry of their compound up to date; PII masked.
    # Property staff run the gates: devices, consent and enrolment, cards, visitor passes.
    Role.PROPERTY_STAFF: frozenset(
        {VIEW_REGISTRY, CHANGE_REGISTRY, VIEW_ACCESS, MANAGE_DEVICES, ENROL_FACES, ISSUE_PASSES}
        | {VIEW_ALERTS, HANDLE_ALERTS, CONFIGURE_ALERTS, VIEW_DASHBOARD}
    ),
    # Grid workers patrol: they see their compound's alerts, handle what is dispatched to them
    # and receive joint-defence broadcasts.
    # They also screen disputes before they escalate (Rizhao) and register them.
    Role.GRID_WORKER: frozenset(
        {VIEW_REGISTRY, CHANGE_REGISTRY, VIEW_ALERTS, HANDLE_ALERTS, VIEW_CASES, RECORD_CASES, VIEW_CASE_STATS}
    ),
    # 社区民警: the police officer of the compound: edits, sees PII, sets key-person tags.
    Role.BEAT_OFFICER: frozenset(
        {VIEW_REGISTRY, CHANGE_REGISTRY, VIEW_PII, SET_KEY_PERSON}
        | {VIEW_ACCESS, MANAGE_DEVICES, ENROL_FACES, ISSUE_PASSES, SEARCH_PASSAGES, VIEW_WATCHLIST, SCREEN_IDS}
        | {VIEW_ALERTS, HANDLE_ALERTS, CONFIGURE_ALERTS, SEND_BROADCASTS}
        | {VIEW_CASES, RECORD_CASES, VIEW_CASE_STATS, VIEW_DASHBOARD, MANAGE_INCIDENTS}
    ),
    # 调解员: reads the registry to find the parties of a dispute and the compound's cases; edits
    # only the cases they are assigned to (object grants).
    Role.MEDIATOR: frozenset({VIEW_REGISTRY, VIEW_CASES}),
}
ALL_CAPABILITIES = frozenset().union(*ROLE_CAPABILITIES.values())


def capabilities(user: AnyUser, compound: Compound | None = None) -> frozenset[str]:
    """The user's capabilities at a compound, or anywhere in their scope when ``compound`` is None."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return ALL_CAPABILITIES
    node = node_path(compound=compound) if compound is not None else None
    caps: set[str] = set()
    for ra in assignments_of(user):
        if node is None or beneath(node, held_path(ra)):
            caps |= ROLE_CAPABILITIES.get(ra.role, frozenset())
    return frozenset(caps)


def has_capability(user: AnyUser, capability: str, compound: Compound | None = None) -> bool:
    """May the user do ``capability`` at ``compound`` (or somewhere in their scope)?"""
    return capability in capabilities(user, compound)


def roles_with(capability: str) -> list[str]:
    """The roles whose capabilities include ``capability``."""
    return [role for role, caps in ROLE_CAPABILITIES.items() if capability in caps]


def has_object_grant(user: AnyUser, action: str, obj: models.Model | None) -> bool:
    """Does a per-object guardian grant (``<action>_<model>``) in the current schema let the user act on ``obj``?"""
    if obj is None or obj.pk is None or not user.is_authenticated:
        return False
    from guardian.shortcuts import get_perms  # guardian's app registry import must wait for apps

    return f"{action}_{obj._meta.model_name}" in get_perms(user, obj)


def can_change_object(user: AnyUser, compound: Compound, obj: models.Model | None) -> bool:
    """Role capability, or a per-object guardian grant (``change_<model>``) in this compound's schema."""
    return has_capability(user, CHANGE_REGISTRY, compound) or has_object_grant(user, "change", obj)


def cities_with(user: AnyUser, capability: str) -> QuerySet[Area]:
    """The cities in which one of ``user``'s roles carries ``capability`` (every city for a superuser).

    A role's city is the city its node lies beneath (``district.scope.beneath``): a district
    branch's city is its district's parent, a beat officer's the city above its compound. City-wide
    registers (the watch-list, the mediator roster) are read and kept per city with this.
    """
    cities = Area.objects.filter(level=AreaLevel.CITY)
    if not user.is_authenticated:
        return cities.none()
    if user.is_superuser:
        return cities
    held = [held_path(ra) for ra in assignments_of(user) if capability in ROLE_CAPABILITIES.get(ra.role, ())]
    if not held:
        return cities.none()
    # A handful of cities at most: the rule is applied in Python rather than spelled again in SQL.
    ids = [city.pk for city in cities.only("pk", "path") if any(beneath(path, city.path) for path in held)]
    return cities.filter(pk__in=ids)


def city_ids_with(user: AnyUser, capability: str) -> set[int]:
    """The ids of :func:`cities_with` (a set, for membership tests)."""
    return set(cities_with(user, capability).values_list("pk", flat=True))


# --- The permission declaration (one per page and API endpoint) ------------------------------
#
# Every page view and API viewset declares, in a ``permissions`` mapping next to its code,
# what each HTTP method (pages) or viewset action (API) needs: a capability at the request's
# compound (or anywhere in the user's scope on public pages), optionally satisfied instead by
# a per-object grant on the record the request acts on. ``district.middleware.
# DeclaredPermissionMiddleware`` refuses (403) every request to a view or method without a
# declaration, before the view runs; ``check_need`` is the one function that evaluates one.


@dataclass(frozen=True)
class Need:
    """What one method of one page or endpoint requires of the user."""

    capability: str | None = None  # None: any signed-in user (the view narrows by scope)
    grant: str | None = None  # a per-object grant (guardian action) that also satisfies it
    anonymous: bool = False  # no sign-in needed (login page, health check, API schema)
    device: bool = False  # a device's own credential (gates, sensors), never a user's session

    def __str__(self) -> str:
        if self.anonymous:
            return "public"
        if self.device:
            return "device credential"
        parts = [self.capability or "signed-in"]
        if self.grant:
            parts.append(f"or object grant {self.grant}")
        return " ".join(parts)


PUBLIC = Need(anonymous=True)
SIGNED_IN = Need()
# Device endpoints: the request must carry a valid, unrevoked device credential; no user, however
# privileged, passes (access.device_auth authenticates the device and chooses its compound).
DEVICE = Need(device=True)


def need(capability: str, *, grant: str | None = None) -> Need:
    """A capability, optionally satisfied by a per-object grant (``grant="change"``)."""
    return Need(capability=capability, grant=grant)


def check_need(user: AnyUser, required: Need, compound: Compound | None, obj: models.Model | None = None) -> bool:
    """Does ``user`` meet ``required`` here? ``obj`` is the record acted on, for per-object grants."""
    if required.anonymous:
        return True
    if required.device or not user.is_authenticated:
        return False  # device needs are met by the device's credential (check_device_need), never a user
    if required.capability is None:
        return True
    if has_capability(user, required.capability, compound):
        return True
    return required.grant is not None and compound is not None and has_object_grant(user, required.grant, obj)


# --- Delegation: who may hand out which role (issue #3) -------------------------------------
#
# A holder of a role in this table may assign (and revoke) the listed roles at the node they
# hold it at or at any node beneath it; nobody assigns upwards or sideways into another
# branch of the tree. Police roles (市局, 分局) staff everything beneath them, including the
# beat officer (社区民警), who is a police officer: a street office (街道办, civil
# administration) may staff its compounds with property staff, grid workers and mediators
# only, and may not create another street-office account (its district branch does that).
#
#   holder            may assign                                   at
#   city_bureau       every role (another 市局 account included)    its city and beneath
#   district_branch   every role except city_bureau                its district and beneath
#   street_office     property_staff, grid_worker, mediator        its street's compounds
#
# Roles without ``roles.assign`` assign nothing; superusers assign anything anywhere.
ASSIGNABLE_ROLES: dict[str, frozenset[str]] = {
    Role.CITY_BUREAU: frozenset(Role.values),
    Role.DISTRICT_BRANCH: frozenset(Role.values) - {Role.CITY_BUREAU},
    Role.STREET_OFFICE: frozenset({Role.PROPERTY_STAFF, Role.GRID_WORKER, Role.MEDIATOR}),
}

# Per-object grants (guardian, in a compound's schema) may give only these permissions on a
# record of a compound-schema model: ``can_change_object`` reads nothing else, and a grant
# the product never checks would only mislead whoever reads the list of grants.
GRANTABLE_OBJECT_ACTIONS = ("change",)


def _granting_assignments(actor: AnyUser) -> list[RoleAssignment]:
    return [ra for ra in assignments_of(actor) if ra.role in ASSIGNABLE_ROLES]


def _beneath(holder: RoleAssignment, area: Area | None, compound: Compound | None) -> bool:
    """Is the node (area or compound) at or beneath the node ``holder`` is held at?"""
    return beneath(node_path(area=area, compound=compound), held_path(holder))


def manages_node(actor: AnyUser, *, area: Area | None = None, compound: Compound | None = None) -> bool:
    """Is the node within the part of the tree where the actor hands out roles?

    Narrower than ``district.scope``: a street-office admin who is also a mediator elsewhere
    manages only its street, not the mediator's compound.
    """
    if not actor.is_authenticated:
        return False
    if actor.is_superuser:
        return True
    return any(_beneath(ra, area, compound) for ra in _granting_assignments(actor))


def may_assign_role(actor: AnyUser, role: str, *, area: Area | None = None, compound: Compound | None = None) -> bool:
    """May the actor assign (or revoke) ``role`` at this node? (The delegation table above.)"""
    if not actor.is_authenticated:
        return False
    if actor.is_superuser:
        return True
    return any(
        role in ASSIGNABLE_ROLES[ra.role] and _beneath(ra, area, compound) for ra in _granting_assignments(actor)
    )


def assignable_roles(actor: AnyUser) -> list[str]:
    """Roles the actor may assign somewhere, in the order of ``Role`` (for form choices)."""
    if actor.is_authenticated and actor.is_superuser:
        return list(Role.values)
    allowed: set[str] = set()
    for ra in _granting_assignments(actor) if actor.is_authenticated else []:
        allowed |= ASSIGNABLE_ROLES[ra.role]
    return [role for role in Role.values if role in allowed]


# --- Which accounts a delegating role may touch (issue #7) -----------------------------------
#
# A delegating role names accounts by username. It may change the roles of an account only if
# every role the account holds is one the delegator may hand out somewhere: a street office
# staffs property staff, grid workers and mediators, and cannot add to (or take from) the
# roles of a beat officer's, a street office's or a superuser's account. Nobody but a
# superuser gives a superuser roles. An account out of reach answers exactly like a username
# that does not exist, so usernames cannot be probed through the role page or the API.


def users_within_reach(actor: AnyUser) -> models.QuerySet[User]:
    """The accounts whose roles ``actor`` may change (every account for a superuser)."""
    users = get_user_model()._default_manager.all()
    if not actor.is_authenticated:
        return users.none()
    if actor.is_superuser:
        return users
    beyond = [role for role in Role.values if role not in assignable_roles(actor)]
    return users.filter(is_superuser=False).exclude(role_assignments__role__in=beyond)


def may_manage_user(actor: AnyUser, user: AnyUser) -> bool:
    """Is ``user`` within the actor's reach (:func:`users_within_reach`, for one account)?"""
    if not actor.is_authenticated:
        return False
    if actor.is_superuser:
        return True
    if user.is_superuser:
        return False
    reach = set(assignable_roles(actor))
    return all(ra.role in reach for ra in assignments_of(user))


def role_assignments_in_scope(actor: AnyUser) -> models.QuerySet[RoleAssignment]:
    """Role assignments at nodes the actor manages (what the role page and API list)."""
    qs = RoleAssignment.objects.select_related("user", "area", "compound__street")
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_superuser:
        return qs
    held = [held_path(ra) for ra in _granting_assignments(actor)]
    return qs.filter(pk__in=role_assignments_beneath(held).values("pk"))


def access_node_by_code(actor: AnyUser, code: str, *, role: str | None = None) -> tuple[Area | None, Compound | None]:
    """The area or compound with this code among the nodes the actor manages, as ``(area, compound)``.

    Missing and unmanaged codes both raise ``Http404`` (codes cannot be probed). A 12-digit
    code may name both a street (statistics form) and a compound: the kind of node ``role``
    is held at is tried first, so the model's role-level check reports a genuine mismatch.
    """
    code = (code or "").strip()
    kinds: list[str] = ["area", "compound"]
    if role is not None and ROLE_LEVEL.get(role) is None:
        kinds.reverse()
    for kind in kinds:
        if kind == "area":
            area = Area.objects.filter(code=code).first()
            if area is not None and manages_node(actor, area=area):
                return area, None
        else:
            compound = Compound.objects.select_related("street").filter(code=code).first()
            if compound is not None and manages_node(actor, compound=compound):
                return None, compound
    raise Http404("No such area or compound")


# --- Reading declarations ---------------------------------------------------------------------


def check_device_need(required: Need, device: object | None) -> bool:
    """Does a request authenticated as ``device`` (None: no device credential) meet ``required``?"""
    return required.device and device is not None


Declaration = dict[str, Need]
# DRF answers OPTIONS with the "metadata" action and HEAD like GET.
_METHOD_ALIASES = {"HEAD": "GET"}


def declare(**needs: Need) -> Any:
    """Attach a declaration to a function view (or a view from a library): ``declare(GET=PUBLIC)``."""

    def attach(view: Any) -> Any:
        view.permissions = {method.upper(): required for method, required in needs.items()}
        return view

    return attach


def declaration_of(view_func: Any) -> tuple[Declaration | None, dict[str, str] | None]:
    """A resolved view's declaration, and for a DRF viewset its method → action map."""
    declared = getattr(view_func, "permissions", None)
    if declared is None:
        # as_view(permissions=...) declares per URL (one form view serves "new" and "edit").
        declared = getattr(view_func, "view_initkwargs", {}).get("permissions")
    if declared is None:
        cls = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
        declared = getattr(cls, "permissions", None)
    actions = getattr(view_func, "actions", None)
    return (dict(declared) if declared is not None else None), actions


def declared_need(view_func: Any, method: str) -> Need | None:
    """What a request with ``method`` to this view needs, or None if nothing is declared (refused)."""
    declared, actions = declaration_of(view_func)
    if declared is None:
        return None
    method = method.upper()
    if actions is not None:
        if method == "OPTIONS":
            return declared.get("metadata")
        action = actions.get(method.lower()) or actions.get(_METHOD_ALIASES.get(method, method).lower())
        return declared.get(action) if action else None
    return declared.get(method) or declared.get(_METHOD_ALIASES.get(method, ""))


def handles_method(view_func: Any, method: str) -> bool:
    """Does the view implement ``method`` at all? (If not, it answers 405, which gives nothing away.)

    Unknown for function views: they count as handling every method, so undeclared is refused.
    """
    method = method.lower()
    actions = getattr(view_func, "actions", None)
    if actions is not None:
        return method in actions or (method == "head" and "get" in actions) or method == "options"
    cls = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    if cls is None:
        return True
    return method in cls.http_method_names and hasattr(cls, method)
