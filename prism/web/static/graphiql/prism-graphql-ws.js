// A minimal graphql-transport-ws client, so GraphiQL runs subscriptions against PRISM without a bundler or a CDN.
// The protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md): connection_init with the
// credential, connection_ack, subscribe, then next messages until complete (or error). prism-graphiql.js uses it for
// subscription operations; tests/test_graphiql_subscriptions.py drives it with a fake WebSocket under Node.
(function (root) {
  "use strict";

  var PROTOCOL = "graphql-transport-ws";

  // The Authorization header the Headers editor holds, whatever its case.
  function authorization(headers) {
    var found = null;
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() === "authorization") {
        found = String(headers[name]);
      }
    });
    return found;
  }

  // Runs one operation; `observer` gets next(result), error(result) and complete(). Returns a function that stops it.
  function subscribe(url, params, headers, observer, WebSocketClass) {
    var Socket = WebSocketClass || root.WebSocket;
    var socket = new Socket(url, PROTOCOL);
    var done = false;

    function finish(result) {
      if (done) {
        return;
      }
      done = true;
      if (result) {
        observer.next(result);
      }
      observer.complete();
    }

    function send(message) {
      socket.send(JSON.stringify(message));
    }

    socket.onopen = function () {
      var credential = authorization(headers);
      send({ type: "connection_init", payload: credential ? { Authorization: credential } : {} });
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (notJson) {
        return;
      }
      if (message.type === "connection_ack") {
        send({ id: "1", type: "subscribe", payload: params });
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "next" && message.id === "1") {
        observer.next(message.payload);
      } else if (message.type === "error" && message.id === "1") {
        finish({ errors: message.payload });
        socket.close(1000, "done");
      } else if (message.type === "complete" && message.id === "1") {
        finish(null);
        socket.close(1000, "done");
      }
    };
    socket.onclose = function (event) {
      if (!done) {
        var reason = event.reason ? ": " + event.reason : "";
        finish({ errors: [{ message: "The subscription's connection closed (" + event.code + reason + ")." }] });
      }
    };

    return function stop() {
      if (done) {
        return;
      }
      done = true;
      try {
        send({ id: "1", type: "complete" });
      } catch (closedAlready) {
        // The socket never opened or is gone: nothing to tell the server.
      }
      socket.close(1000, "stopped");
    };
  }

  var api = { subscribe: subscribe, PROTOCOL: PROTOCOL };
  root.PrismGraphQLWS = api;
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  }
})(typeof window !== "undefined" ? window : globalThis);
