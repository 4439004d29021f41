"""What the demo organization is about: its people, labels, products and their planned work, written by hand.

Every story says who wants it and why, and how the team will know it is done; every bug says how to reproduce it.
Labels are not picked at random: an item carries each label one of whose words its title uses (`labels_for`).
"""

from dataclasses import dataclass, field

from prism.domain.enums import Role

__all__ = ["CATALOGUE", "LABELS", "PEOPLE", "DemoLabel", "Epic", "Feature", "Item", "ProductPlan", "labels_for"]

PEOPLE = [
    ("Dana Demo", "demo@prism.dev", Role.OWNER),
    ("Priya Natarajan", "priya@prism.dev", Role.ADMIN),
    ("Marco Rossi", "marco@prism.dev", Role.MEMBER),
    ("Aiko Tanaka", "aiko@prism.dev", Role.MEMBER),
    ("Sam Okafor", "sam@prism.dev", Role.MEMBER),
    ("Lena Fischer", "lena@prism.dev", Role.VIEWER),
]


@dataclass(frozen=True)
class DemoLabel:
    """A label and the words that earn it: an item whose title uses one of them carries the label."""

    name: str
    color: str
    description: str
    words: tuple[str, ...]


LABELS = [
    DemoLabel(
        "frontend",
        "#3b82f6",
        "Screens, boards and views in the web app.",
        ("board", "banner", "view", "page", "drag", "keyboard", "tour", "filter"),
    ),
    DemoLabel(
        "backend",
        "#10b981",
        "Server work: APIs, imports, sync and jobs.",
        ("import", "sync", "count", "email", "invoice", "cache", "digest"),
    ),
    DemoLabel("security", "#ef4444", "Sign-in, verification and access.", ("sso", "verify", "sign", "invite")),
    DemoLabel("mobile", "#8b5cf6", "The iOS and Android apps.", ("offline", "swipe", "notification", "mute")),
    DemoLabel("billing", "#f59e0b", "Plans, usage and invoices.", ("invoice", "usage", "pdf", "plan")),
]


def labels_for(title: str) -> list[DemoLabel]:
    """The labels whose words the title uses (whole words, any case)."""
    words = {word.strip(".,:;()'\"").lower() for word in title.split()}
    return [label for label in LABELS if words & set(label.words)]


@dataclass(frozen=True)
class Item:
    """A story, task or bug. For a story `detail` is why the user wants it; for a bug, how to reproduce it."""

    kind: str
    title: str
    detail: str
    criteria: tuple[str, ...] = ()


def story(title: str, why: str, *criteria: str) -> Item:
    return Item("STORY", title, why, criteria)


def task(title: str, detail: str) -> Item:
    return Item("TASK", title, detail)


def bug(title: str, steps: str) -> Item:
    return Item("BUG", title, steps)


@dataclass(frozen=True)
class Feature:
    title: str
    summary: str
    items: list[Item]


@dataclass(frozen=True)
class Epic:
    title: str
    summary: str
    features: list[Feature]
    bugs: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class ProductPlan:
    key: str
    name: str
    description: str
    persona: str
    epics: list[Epic]


CATALOGUE = [
    ProductPlan(
        "PRISM",
        "Prism Platform",
        "The web app product teams plan in.",
        "product manager",
        [
            Epic(
                "Self-serve onboarding",
                "A team goes from sign-up to its first planned sprint without talking to us.",
                [
                    Feature(
                        "Sign-up flow",
                        "Create an account and a workspace in under a minute.",
                        [
                            story(
                                "Sign up with email",
                                "I can try PRISM without asking anyone for an account",
                                "A new address gets an account and a workspace",
                                "An address already in use gets a clear message",
                            ),
                            story(
                                "Verify email address",
                                "nobody can sign up in my name",
                                "The confirmation link works once and expires after a day",
                                "An unverified account cannot sign in",
                            ),
                            story(
                                "Invite teammates on sign-up",
                                "my team plans with me from the first day",
                                "Up to ten addresses can be invited on the last step",
                                "Each invitee gets one email with a link that signs them in",
                            ),
                            task("Rate-limit sign-up by address", "Throttle repeated sign-ups from one address."),
                        ],
                    ),
                    Feature(
                        "Workspace setup",
                        "A new workspace looks like the team's work, not an empty page.",
                        [
                            story(
                                "Import issues from CSV",
                                "I bring my backlog with me instead of typing it again",
                                "Columns are matched by name, with a preview before the import",
                                "Rows that fail are listed with the reason",
                            ),
                            story(
                                "Sample data tour",
                                "I see what a planned product looks like before I plan mine",
                                "The tour can be skipped and restarted from the help menu",
                            ),
                        ],
                    ),
                ],
                bugs=[bug("Sign-up page loses the workspace name on a failed submit", "Submit with a weak password.")],
            ),
            Epic(
                "Planning board",
                "Plan sprints on one board: rank the backlog, fill the sprint, watch the burndown.",
                [
                    Feature(
                        "Backlog ranking",
                        "The backlog is in the order the team will work on it.",
                        [
                            story(
                                "Drag to rerank the backlog",
                                "the most important work is always on top",
                                "Dropping an item between two others keeps it there after a reload",
                                "Two people reranking at once both keep their moves",
                            ),
                            story(
                                "Keyboard reranking",
                                "I can rank without a mouse",
                                "Alt+Up and Alt+Down move the selected item",
                            ),
                        ],
                    ),
                    Feature(
                        "Sprint view",
                        "What the sprint holds and how it is going, at a glance.",
                        [
                            story(
                                "Show sprint burndown",
                                "I see early when the sprint will not finish",
                                "Remaining points per day since the start",
                                "Scope added after the start shows as a step up",
                            ),
                            story(
                                "Sprint goal banner",
                                "everyone sees what the sprint is for",
                                "The goal shows above the board and can be edited in place",
                            ),
                            story(
                                "Close sprint with carry-over",
                                "unfinished work is never lost when a sprint ends",
                                "Unfinished items move to the next sprint or the backlog, as chosen",
                                "The sprint report still shows what was committed",
                            ),
                        ],
                    ),
                    Feature(
                        "Saved views",
                        "The filters people use every day, one click away.",
                        [
                            story(
                                "Filter the board by label and assignee",
                                "I see only my work, or only the frontend work",
                                "Filters combine, and the URL keeps them",
                            ),
                            story(
                                "Save a filter as a view",
                                "I do not rebuild the same filter every morning",
                                "A saved view appears in the sidebar",
                                "Views can be shared with the team or kept private",
                            ),
                            task("Index requirement filters by assignee", "Add the composite index the views need."),
                        ],
                    ),
                ],
                bugs=[bug("Board drag handle jumps when the list scrolls", "Scroll the backlog, then drag an item.")],
            ),
        ],
    ),
    ProductPlan(
        "MOBILE",
        "Mobile App",
        "iOS and Android companion for triage on the go.",
        "team lead on the go",
        [
            Epic(
                "Offline triage",
                "Triage the inbox on a train: changes wait for the network and merge cleanly.",
                [
                    Feature(
                        "Local cache",
                        "The app opens instantly with what it knew last.",
                        [
                            story(
                                "Cache the inbox offline",
                                "I can read my inbox without a connection",
                                "The last 500 items are readable offline",
                                "A banner says when the data was last synced",
                            ),
                            story(
                                "Sync changes when back online",
                                "what I did offline is not lost",
                                "Queued changes are sent in order when the network returns",
                                "A conflict keeps the server's value and tells me",
                            ),
                            task("Encrypt the offline cache", "Use the platform keystore for the cache key."),
                        ],
                    ),
                    Feature(
                        "Quick actions",
                        "Common triage in one gesture.",
                        [
                            story(
                                "Swipe to change status",
                                "I triage ten items in a minute",
                                "Swipe right moves an item forward, swipe left undoes",
                            ),
                            story(
                                "Assign from a notification",
                                "I hand work over without opening the app",
                                "The notification offers the last three assignees",
                            ),
                        ],
                    ),
                ],
                bugs=[bug("Offline banner stays after the sync finished", "Go offline, edit an item, go online.")],
            ),
            Epic(
                "Push notifications",
                "Tell people what needs them, and nothing else.",
                [
                    Feature(
                        "Notification settings",
                        "Each person decides what reaches their phone.",
                        [
                            story(
                                "Mute a product",
                                "a noisy product does not drown the rest",
                                "A muted product sends no notification until unmuted",
                            ),
                            story(
                                "Daily digest email at 9am",
                                "I read what changed once a day instead of all day",
                                "The digest lists changes since the last one, grouped by product",
                                "It is sent at 9am in my time zone",
                            ),
                            story(
                                "Quiet hours for notifications",
                                "my phone stays silent at night",
                                "Notifications inside quiet hours wait until they end",
                            ),
                        ],
                    ),
                ],
            ),
        ],
    ),
    ProductPlan(
        "BILLING",
        "Billing",
        "Plans, invoices and usage-based pricing.",
        "workspace admin",
        [
            Epic(
                "Usage-based pricing",
                "Pay for what the team uses, and see it coming.",
                [
                    Feature(
                        "Metering",
                        "Count billable usage exactly once.",
                        [
                            story(
                                "Count AI calls per workspace",
                                "the bill matches what we used",
                                "Every call is counted once, retries included once",
                                "Counts are visible within five minutes",
                            ),
                            story(
                                "Show usage on the billing page",
                                "I see the month's cost before the invoice",
                                "Usage so far and the projected month-end total",
                            ),
                            task("Backfill usage counts for last month", "One job over the call log, idempotent."),
                        ],
                    ),
                    Feature(
                        "Invoices",
                        "Invoices people can file without editing them.",
                        [
                            story(
                                "Email the monthly invoice",
                                "finance gets it without logging in",
                                "Sent on the first working day to the billing contacts",
                            ),
                            story(
                                "Download invoice as PDF",
                                "I can attach it to an expense report",
                                "The PDF carries the company address and VAT number",
                            ),
                        ],
                    ),
                ],
                bugs=[bug("Usage page shows last month's plan after an upgrade", "Upgrade the plan, open usage.")],
            ),
            Epic(
                "Plans and trials",
                "Start on a trial, pick a plan, change it any time.",
                [
                    Feature(
                        "Plan changes",
                        "Upgrades apply now; downgrades at the end of the period.",
                        [
                            story(
                                "Upgrade the plan in place",
                                "we get more seats the moment we need them",
                                "The upgrade applies at once and is prorated",
                            ),
                            story(
                                "Trial ending banner",
                                "the trial never ends by surprise",
                                "The banner shows seven days before the end, with a link to pick a plan",
                            ),
                        ],
                    ),
                ],
            ),
        ],
    ),
]
"""The demo's three products, their epics, features and the work under them, in the order it was planned."""
