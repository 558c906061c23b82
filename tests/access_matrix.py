"""The access matrix of D19 as data: role x action x relationship -> allowed.

Written out by hand from the spec's **Permissions** section and D19, not
derived from the code, so that ``tests/test_permissions.py`` checks the code
against it. Each row is one role and one action; its six marks follow
``RELATIONSHIPS``: ``Y`` allowed, ``.`` denied.

The world: organization ``org-a`` with classes ``c1`` (the actor's: taught
or enrolled in) and ``c2``; organization ``org-b`` reuses the very same ids
(class ``c1``, student ``s-1``), so a grant that ignored organizations would
show up as a wrong ``Y`` in the last column.
"""

from __future__ import annotations

from typing import Final

from mlc_progress._permissions import (
    Action,
    Actor,
    ChildLink,
    Resource,
    ResourceKind,
    Role,
)

ACTOR_ID: Final = "u-1"
HOME: Final = "org-a"
OTHER: Final = "org-b"
KID_WITH_CONSENT: Final = "kid-consented"
KID_WITHOUT_CONSENT: Final = "kid-unconsented"

#: Relationship of the resource to the actor, in the order of the marks.
RELATIONSHIPS: Final = (
    "self",  # the actor's own id, in none of the actor's classes
    "own_child_with_consent",
    "own_child_without_consent",
    "own_class",  # another student, in the class the actor teaches or attends
    "other_class_same_organization",
    "other_organization",  # same student and class ids as own_class, org-b
)

#: (student_id, class_ids, organization_id) of each relationship's resource.
PLACES: Final[dict[str, tuple[str, tuple[str, ...], str]]] = {
    "self": (ACTOR_ID, (), HOME),
    "own_child_with_consent": (KID_WITH_CONSENT, ("c3",), HOME),
    "own_child_without_consent": (KID_WITHOUT_CONSENT, ("c3",), HOME),
    "own_class": ("s-1", ("c1",), HOME),
    "other_class_same_organization": ("s-2", ("c2",), HOME),
    "other_organization": ("s-1", ("c1",), OTHER),
}

#: The natural kind of resource of each action, used in the matrix.
KIND_OF: Final[dict[Action, ResourceKind]] = {
    Action.READ_OWN_PROGRESS: ResourceKind.ASSIGNMENT,
    Action.READ_SUMMARY: ResourceKind.SUMMARY,
    Action.READ_HISTORY: ResourceKind.SNAPSHOT,
    Action.READ_CLASS: ResourceKind.ASSIGNMENT,
    Action.READ_ORGANIZATION: ResourceKind.ORGANIZATION,
    Action.OVERRIDE: ResourceKind.STEP,
    Action.ADJUST_TARGET: ResourceKind.STEP,
    Action.EXTEND_DEADLINE: ResourceKind.ASSIGNMENT,
    Action.EXPORT_REPORTS: ResourceKind.SUMMARY,
    Action.EXPORT_BULK_DATA: ResourceKind.ORGANIZATION,
    Action.CONFIGURE_POLICY: ResourceKind.POLICY,
    Action.REPAIR: ResourceKind.ASSIGNMENT,
    Action.READ_RAW: ResourceKind.RAW,
    Action.EXPORT_STUDENT_DATA: ResourceKind.STUDENT,
    Action.DEACTIVATE_STUDENT: ResourceKind.STUDENT,
}

#: Kinds that belong to an organization or a class, not to one student.
WHOLE_KINDS: Final = frozenset(
    {ResourceKind.ORGANIZATION, ResourceKind.POLICY, ResourceKind.CLASS}
)

# fmt: off
#               self  kid+  kid-  class other-class other-org
MATRIX: Final[dict[tuple[Role, Action], str]] = {
    (Role.STUDENT, Action.READ_OWN_PROGRESS):   "Y.....",
    (Role.STUDENT, Action.READ_SUMMARY):        "Y.....",
    (Role.STUDENT, Action.READ_HISTORY):        "Y.....",
    (Role.STUDENT, Action.READ_CLASS):          "......",
    (Role.STUDENT, Action.READ_ORGANIZATION):   "......",
    (Role.STUDENT, Action.OVERRIDE):            "......",
    (Role.STUDENT, Action.ADJUST_TARGET):       "......",
    (Role.STUDENT, Action.EXTEND_DEADLINE):     "......",
    (Role.STUDENT, Action.EXPORT_REPORTS):      "......",
    (Role.STUDENT, Action.EXPORT_BULK_DATA):    "......",
    (Role.STUDENT, Action.CONFIGURE_POLICY):    "......",
    (Role.STUDENT, Action.REPAIR):              "......",
    (Role.STUDENT, Action.READ_RAW):            "......",
    (Role.STUDENT, Action.EXPORT_STUDENT_DATA): "......",
    (Role.STUDENT, Action.DEACTIVATE_STUDENT):  "......",

    (Role.TEACHER, Action.READ_OWN_PROGRESS):   "......",
    (Role.TEACHER, Action.READ_SUMMARY):        "...Y..",
    (Role.TEACHER, Action.READ_HISTORY):        "...Y..",
    (Role.TEACHER, Action.READ_CLASS):          "...Y..",
    (Role.TEACHER, Action.READ_ORGANIZATION):   "......",
    (Role.TEACHER, Action.OVERRIDE):            "...Y..",
    (Role.TEACHER, Action.ADJUST_TARGET):       "...Y..",
    (Role.TEACHER, Action.EXTEND_DEADLINE):     "...Y..",
    (Role.TEACHER, Action.EXPORT_REPORTS):      "...Y..",
    (Role.TEACHER, Action.EXPORT_BULK_DATA):    "......",
    (Role.TEACHER, Action.CONFIGURE_POLICY):    "......",
    (Role.TEACHER, Action.REPAIR):              "......",
    (Role.TEACHER, Action.READ_RAW):            "......",
    (Role.TEACHER, Action.EXPORT_STUDENT_DATA): "......",
    (Role.TEACHER, Action.DEACTIVATE_STUDENT):  "......",

    (Role.ADMIN, Action.READ_OWN_PROGRESS):     "......",
    (Role.ADMIN, Action.READ_SUMMARY):          "YYYYY.",
    (Role.ADMIN, Action.READ_HISTORY):          "YYYYY.",
    (Role.ADMIN, Action.READ_CLASS):            "YYYYY.",
    (Role.ADMIN, Action.READ_ORGANIZATION):     "YYYYY.",
    (Role.ADMIN, Action.OVERRIDE):              "......",
    (Role.ADMIN, Action.ADJUST_TARGET):         "......",
    (Role.ADMIN, Action.EXTEND_DEADLINE):       "......",
    (Role.ADMIN, Action.EXPORT_REPORTS):        "YYYYY.",
    (Role.ADMIN, Action.EXPORT_BULK_DATA):      "YYYYY.",
    (Role.ADMIN, Action.CONFIGURE_POLICY):      "YYYYY.",
    (Role.ADMIN, Action.REPAIR):                "......",
    (Role.ADMIN, Action.READ_RAW):              "......",
    (Role.ADMIN, Action.EXPORT_STUDENT_DATA):   "YYYYY.",
    (Role.ADMIN, Action.DEACTIVATE_STUDENT):    "YYYYY.",

    (Role.SYSTEM_ADMIN, Action.READ_OWN_PROGRESS):   "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.READ_SUMMARY):        "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.READ_HISTORY):        "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.READ_CLASS):          "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.READ_ORGANIZATION):   "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.OVERRIDE):            "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.ADJUST_TARGET):       "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.EXTEND_DEADLINE):     "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.EXPORT_REPORTS):      "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.EXPORT_BULK_DATA):    "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.CONFIGURE_POLICY):    "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.REPAIR):              "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.READ_RAW):            "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.EXPORT_STUDENT_DATA): "YYYYYY",
    (Role.SYSTEM_ADMIN, Action.DEACTIVATE_STUDENT):  "YYYYYY",

    (Role.PARENT, Action.READ_OWN_PROGRESS):    "......",
    (Role.PARENT, Action.READ_SUMMARY):         ".Y....",
    (Role.PARENT, Action.READ_HISTORY):         "......",
    (Role.PARENT, Action.READ_CLASS):           "......",
    (Role.PARENT, Action.READ_ORGANIZATION):    "......",
    (Role.PARENT, Action.OVERRIDE):             "......",
    (Role.PARENT, Action.ADJUST_TARGET):        "......",
    (Role.PARENT, Action.EXTEND_DEADLINE):      "......",
    (Role.PARENT, Action.EXPORT_REPORTS):       "......",
    (Role.PARENT, Action.EXPORT_BULK_DATA):     "......",
    (Role.PARENT, Action.CONFIGURE_POLICY):     "......",
    (Role.PARENT, Action.REPAIR):               "......",
    (Role.PARENT, Action.READ_RAW):             "......",
    (Role.PARENT, Action.EXPORT_STUDENT_DATA):  "......",
    (Role.PARENT, Action.DEACTIVATE_STUDENT):   "......",
}
# fmt: on


def actor_for(role: Role) -> Actor:
    """The one actor of ``role`` that every cell of its rows is asked about."""
    return Actor(
        actor_id=ACTOR_ID,
        role=role,
        organization_id=HOME,
        class_ids=("c1",) if role in (Role.TEACHER, Role.STUDENT) else (),
        children=(
            ChildLink(student_id=KID_WITH_CONSENT, consent=True),
            ChildLink(student_id=KID_WITHOUT_CONSENT, consent=False),
        )
        if role is Role.PARENT
        else (),
    )


def resource_for(relationship: str, kind: ResourceKind) -> Resource:
    """The resource of ``kind`` standing in ``relationship`` to the actor.

    Whole-class and whole-organization kinds keep only the place: the class
    (for a class) or the organization of the relationship.
    """
    student_id, class_ids, organization_id = PLACES[relationship]
    if kind in WHOLE_KINDS:
        return Resource(
            kind=kind,
            organization_id=organization_id,
            class_ids=class_ids if kind is ResourceKind.CLASS else (),
        )
    return Resource.of_student(
        kind,
        organization_id=organization_id,
        student_id=student_id,
        class_ids=class_ids,
    )


def cells() -> list[tuple[Role, Action, str, bool]]:
    """Every cell: (role, action, relationship, expected allowed)."""
    return [
        (role, action, relationship, marks[i] == "Y")
        for (role, action), marks in MATRIX.items()
        for i, relationship in enumerate(RELATIONSHIPS)
    ]
