"""`prism seed --demo`: a realistic organization a new user can log in to and explore."""

from prism.config import Settings
from prism.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from tests.helpers import GraphQLClient

LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { code } } }
"""


async def test_the_demo_organization_has_products_hierarchy_sprint_history_and_can_be_seeded_once(
    settings: Settings, gql: GraphQLClient
) -> None:
    assert settings.database_admin_url is not None
    summary = await seed_demo(settings.database_admin_url)
    assert summary.startswith("Demo organization created: 3 products")
    assert await seed_demo(settings.database_admin_url) == "The demo organization exists already; nothing changed."

    login = await gql(LOG_IN, {"input": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}})
    token = login["logIn"]["accessToken"]
    data = await gql(
        """{
          viewer { role organization { name } }
          products { totalCount nodes { key } }
          epics: requirements(filter: {kinds: [EPIC]}) { totalCount }
          stories: requirements(filter: {kinds: [STORY], statuses: [DONE]}, first: 100) {
            totalCount
            nodes { parent { kind parent { kind } } history { nodes { kind } } }
          }
        }""",
        token=token,
    )
    assert data["viewer"] == {"role": "OWNER", "organization": {"name": "Demo Co"}}
    assert sorted(p["key"] for p in data["products"]["nodes"]) == ["BILLING", "MOBILE", "PRISM"]
    assert data["epics"]["totalCount"] == 5
    done = data["stories"]["nodes"]
    assert len(done) >= 5
    for story in done:
        assert story["parent"] == {"kind": "FEATURE", "parent": {"kind": "EPIC"}}
        kinds = [event["kind"] for event in story["history"]["nodes"]]
        assert kinds[0] == "CREATED"
        assert kinds.count("STATUS") == 4  # BACKLOG -> TODO -> IN_PROGRESS -> IN_REVIEW -> DONE
