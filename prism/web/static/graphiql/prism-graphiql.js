// Boots GraphiQL for PRISM. It is a static file because the page's Content-Security-Policy admits no inline
// script; prism/web/graphiql.py serves it and explains the policy.
(function () {
  "use strict";

  var ACCEPT = "application/graphql-response+json, application/json";
  var HEADERS_HINT = '{"Authorization": "Bearer <paste the accessToken from logIn>"}';

  // GraphiQL's dialogs (react-remove-scroll) add a <style> element and read its nonce from this global; the
  // page's style-src admits that one element by the per-response nonce carried on this script's tag.
  var self = document.currentScript;
  if (self && self.nonce) {
    window.__webpack_nonce__ = self.nonce;
  }

  // The page is served by the GraphQL endpoint itself, so its own path is where operations go, also behind a
  // proxy that mounts PRISM under a prefix.
  var endpoint = window.location.pathname;

  var DEFAULT_QUERY = [
    "# PRISM's GraphQL API. Docs: the book icon on the left.",
    "#",
    "# Most operations need a signed-in user:",
    "# 1. Run LogIn below (or signUp, for a new account).",
    "# 2. Copy accessToken from the response.",
    "# 3. In the Headers tab below, replace {} with",
    '#    {"Authorization": "Bearer <accessToken>"}',
    "# 4. Replace this document with a query, for example:",
    "#      query Viewer { viewer { user { name email } organization { name } role } }",
    "#",
    "# Ctrl-Enter runs the operation, Ctrl-Space completes (Cmd on macOS).",
    "# (One operation here, so the Run button runs it at once.)",
    "",
    "mutation LogIn {",
    "  logIn(input: {",
    '    email: "you@example.com"',
    '    password: "your password"',
    "  }) {",
    "    accessToken",
    "    expiresAt",
    "    userErrors { field message code }",
    "  }",
    "}",
    "",
  ].join("\n");

  function errorResult(message) {
    return { errors: [{ message: message }] };
  }

  // Subscriptions go over WebSocket at the same path (graphql-transport-ws, prism-graphql-ws.js).
  var socketUrl = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + endpoint;

  // Whether the operation to run is a subscription: from the parsed document GraphiQL passes, else from the text.
  function isSubscription(params, options) {
    var document = options && options.documentAST;
    if (document && document.definitions) {
      var operations = document.definitions.filter(function (d) {
        return d.kind === "OperationDefinition";
      });
      var chosen = operations.filter(function (d) {
        return !params.operationName || (d.name && d.name.value === params.operationName);
      })[0];
      return Boolean(chosen && chosen.operation === "subscription");
    }
    return /^\s*subscription\b/m.test(String(params.query || "").replace(/#[^\n]*/g, ""));
  }

  // Posts one operation with the headers typed in the Headers editor, which may override the defaults; a
  // subscription is answered with an observable GraphiQL shows result by result.
  function fetcher(params, options) {
    if (isSubscription(params, options)) {
      var headers = (options && options.headers) || {};
      return {
        subscribe: function (observer) {
          var stop = window.PrismGraphQLWS.subscribe(socketUrl, params, headers, {
            next: function (result) {
              observer.next(result);
            },
            error: function (result) {
              observer.next(result);
            },
            complete: function () {
              if (observer.complete) {
                observer.complete();
              }
            },
          });
          return { unsubscribe: stop };
        },
      };
    }
    return post(params, options);
  }

  function post(params, options) {
    var headers = new Headers({ "Content-Type": "application/json", Accept: ACCEPT });
    var fromEditor = (options && options.headers) || {};
    Object.keys(fromEditor).forEach(function (name) {
      headers.set(name, String(fromEditor[name]));
    });
    return fetch(endpoint, {
      method: "POST",
      headers: headers,
      body: JSON.stringify(params),
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (notJson) {
          return errorResult("HTTP " + response.status + " with a body that is not JSON: " + text.slice(0, 500));
        }
      });
    });
  }

  var h = React.createElement;
  var hint = h(
    "div",
    { className: "prism-graphiql-hint" },
    "Signed-in operations: put ",
    h("code", null, HEADERS_HINT),
    " in the Headers tab below the query. Headers are forgotten on reload unless you turn on Persist headers in" +
      " Settings."
  );

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    h(
      GraphiQL,
      {
        fetcher: fetcher,
        defaultQuery: DEFAULT_QUERY,
        // The Headers tab is enabled and open from the start; it starts as an empty object rather than a
        // template with a placeholder token, which would be sent and answered with UNAUTHENTICATED on every
        // operation, including the logIn that obtains a real one. The hint above and in the query says what to put.
        isHeadersEditorEnabled: true,
        defaultEditorToolsVisibility: "headers",
        defaultHeaders: "{}",
        // Access tokens stay out of localStorage unless the user opts in with the toggle in GraphiQL's settings.
        shouldPersistHeaders: false,
        showPersistHeadersSettings: true,
      },
      h(GraphiQL.Logo, null, "PRISM"),
      h(GraphiQL.Footer, null, hint)
    )
  );
})();
