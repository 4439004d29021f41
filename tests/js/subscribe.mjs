// Subscribes to a PRISM server with the reference graphql-ws client and prints what it receives as JSON lines.
//
//   node subscribe.mjs ws://127.0.0.1:8000/graphql '<subscription>' '<variables JSON>' [count]
//
// with the credential (an access token or API key) in the environment variable PRISM_TOKEN.
// Lines: {"event":"connected"} once the server acknowledged connection_init, {"event":"next","payload":...} per
// result, then {"event":"complete"} after `count` results (or when the server completes the subscription),
// {"event":"error",...} when the subscription fails, {"event":"closed","code":...,"reason":...} when the socket closes.
// The exit status is 0 after `count` results or a completion, 1 otherwise.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, query, variablesJson = "{}", countText = "1"] = process.argv.slice(2);
const token = process.env.PRISM_TOKEN;
const wanted = Number(countText);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  lazy: false,
  retryAttempts: 0,
  on: {
    connected: () => print({ event: "connected" }),
    closed: (event) => print({ event: "closed", code: event.code, reason: event.reason }),
  },
});

let received = 0;
let status = 1;
const finish = async (code) => {
  status = code;
  await client.dispose();
  process.exit(status);
};

client.subscribe(
  { query, variables: JSON.parse(variablesJson) },
  {
    next: (payload) => {
      print({ event: "next", payload });
      received += 1;
      if (received >= wanted) {
        print({ event: "complete" });
        finish(0);
      }
    },
    error: (error) => {
      // GraphQL errors (an array), a close event (code, reason) or a socket error event (its message).
      const detail = Array.isArray(error)
        ? error
        : { code: error?.code, reason: error?.reason, message: error?.message ?? error?.error?.message ?? String(error) };
      print({ event: "error", error: detail });
      finish(1);
    },
    complete: () => {
      print({ event: "complete" });
      finish(0);
    },
  },
);
