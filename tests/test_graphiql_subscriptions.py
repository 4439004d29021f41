"""GraphiQL's subscriptions: the page's graphql-transport-ws client (prism-graphql-ws.js), run under Node.

Node 20 has no WebSocket, so the client runs against a fake socket that records what it sends and plays the server's
part of the protocol; what the real server answers to the same messages is tested in tests/test_subscriptions.py.
"""

import json
import shutil
import subprocess
from pathlib import Path

from prism.web.graphiql import STATIC_DIR

CLIENT = STATIC_DIR / "prism-graphql-ws.js"

SCRIPT = r"""
const client = require(process.argv[1]);
const sent = [], seen = [];
let closed = null;
class FakeSocket {
  constructor(url, protocol) { this.url = url; this.protocol = protocol; FakeSocket.last = this; }
  send(text) { sent.push(JSON.parse(text)); }
  close(code, reason) { closed = [code, reason]; }
  deliver(message) { this.onmessage({ data: JSON.stringify(message) }); }
}
const observer = {
  next: (result) => seen.push(["next", result]),
  error: (result) => seen.push(["error", result]),
  complete: () => seen.push(["complete"]),
};
const params = { query: "subscription { requirementChanged(productId: \"P\") { cursor } }", variables: {} };
const scenario = process.argv[2];
const headers = { authorization: "Bearer T" };
const stop = client.subscribe("ws://prism.test/graphql", params, headers, observer, FakeSocket);
const socket = FakeSocket.last;
socket.onopen();
socket.deliver({ type: "connection_ack" });
socket.deliver({ type: "ping" });
socket.deliver({ id: "1", type: "next", payload: { data: { requirementChanged: { cursor: "7" } } } });
if (scenario === "complete") socket.deliver({ id: "1", type: "complete" });
const refusal = [{ message: "No Product with this id." }];
if (scenario === "error") socket.deliver({ id: "1", type: "error", payload: refusal });
if (scenario === "stop") stop();
if (scenario === "dropped") socket.onclose({ code: 4403, reason: "Forbidden: revoked" });
console.log(JSON.stringify({ url: socket.url, protocol: socket.protocol, sent, seen, closed }));
"""


def run(scenario: str) -> dict[str, object]:
    node = shutil.which("node")
    assert node, "Node.js is needed to test GraphiQL's subscription client"
    done = subprocess.run(
        [node, "-e", SCRIPT, "--", str(Path(CLIENT)), scenario], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_it_speaks_graphql_transport_ws_with_the_headers_editors_credential() -> None:
    found = run("complete")
    assert (found["url"], found["protocol"]) == ("ws://prism.test/graphql", "graphql-transport-ws")
    assert found["sent"] == [
        {"type": "connection_init", "payload": {"Authorization": "Bearer T"}},
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": 'subscription { requirementChanged(productId: "P") { cursor } }', "variables": {}},
        },
        {"type": "pong"},
    ]
    assert found["seen"] == [["next", {"data": {"requirementChanged": {"cursor": "7"}}}], ["complete"]]
    assert found["closed"] == [1000, "done"]


def test_errors_a_dropped_connection_and_stopping_are_shown_and_end_the_stream() -> None:
    errored = run("error")
    assert errored["seen"][-2:] == [["next", {"errors": [{"message": "No Product with this id."}]}], ["complete"]]
    dropped = run("dropped")
    assert dropped["seen"][-2] == [
        "next",
        {"errors": [{"message": "The subscription's connection closed (4403: Forbidden: revoked)."}]},
    ]
    stopped = run("stop")
    assert stopped["sent"][-1] == {"id": "1", "type": "complete"}
    assert stopped["closed"] == [1000, "stopped"]
    assert stopped["seen"] == [["next", {"data": {"requirementChanged": {"cursor": "7"}}}]]
