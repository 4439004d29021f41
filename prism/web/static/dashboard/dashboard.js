// PRISM's live dashboard (/dashboard, prism/web/dashboard.py): signs in as GraphiQL does (the logIn mutation, or a
// pasted access token or API key), then draws one product's figures from GraphQL queries and keeps the active
// sprint's burndown current through the sprintDashboard subscription (graphql-transport-ws, prism-graphql-ws.js).
// The queries are the ones docs/analytics.md describes; the token lives in this module's memory only.
import "./prism-graphql-ws.js";
import { barChart, lineChart, stackedAreaChart } from "./charts.js";

const ACCEPT = "application/graphql-response+json, application/json";
const endpoint = new URL("graphql", document.baseURI).href;
const socketUrl = endpoint.replace(/^http/, "ws");
const STATUSES = ["BACKLOG", "TODO", "IN_PROGRESS", "IN_REVIEW", "DONE", "CANCELED"];
const RETRY_SECONDS = [1, 2, 5, 10, 30];
const REFRESH_DELAY_MS = 300;

const LOG_IN = `mutation DashboardLogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken expiresAt refreshToken mfaRequired userErrors { message code } }
}`;
const REFRESH = `mutation DashboardRefresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken expiresAt refreshToken userErrors { message code } }
}`;
const LOG_OUT = `mutation DashboardLogOut { logOut { ok } }`;
const PRODUCTS = `query DashboardProducts { products(first: 100) { nodes { id key name } } }`;
const PRODUCT = `query DashboardProduct($id: ID!) {
  product(id: $id) {
    id key name
    activeSprints: sprints(filter: { states: [ACTIVE] }, first: 1) { nodes { id name } }
    openReleases: releases(filter: { states: [PLANNED, IN_PROGRESS] }, first: 1) { nodes { id name targetDate } }
    velocity(lastSprints: 6) {
      sprints { sprint { id name } committedPoints completedPoints }
      meanCompletedPoints
      completedPointsStandardDeviation
    }
    cumulativeFlow { date counts { status count } total }
  }
}`;
const FORECAST_FIELDS = `remaining weeklyThroughput completionDate50 completionDate85 completionDate95
  targetDate probabilityOnTarget`;
const RELEASE_FORECAST = `query DashboardReleaseForecast($id: ID!) {
  node(id: $id) { ... on Release { forecast { ${FORECAST_FIELDS} } } }
}`;
const SPRINT_FORECAST = `query DashboardSprintForecast($product: ID!, $ids: [ID!]!) {
  product(id: $product) { forecast(requirementIds: $ids) { ${FORECAST_FIELDS} } }
}`;
const SPRINT_CHANGES = `subscription DashboardSprints($product: ID!) {
  sprintChanged(productId: $product) { action sprintId }
}`;
const SPRINT_DASHBOARD = `subscription DashboardSprint($sprint: ID!) {
  sprintDashboard(sprintId: $sprint) {
    id name state startsOn endsOn committedPoints completedPoints
    burndown { date scopePoints donePoints remainingPoints idealPoints scopeAddedPoints scopeRemovedPoints }
    requirements(first: 100) { totalCount nodes { id status } }
  }
}`;

const state = {
  token: null,
  refreshToken: null,
  refreshTimer: null,
  productId: null,
  product: null,
  sprint: null,
  stops: [],
  generation: 0,
  subscribedSprintId: null,
  retry: 0,
  retryTimer: null,
  refreshFiguresTimer: null,
};

const $ = (id) => document.getElementById(id);

function show(id, visible) {
  $(id).hidden = !visible;
}

function say(message) {
  $("message").textContent = message || "";
}

function setLive(value, label) {
  const live = $("live");
  live.dataset.state = value;
  live.textContent = label;
}

class GraphQLFailure extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.codes = errors.map((e) => (e.extensions && e.extensions.code) || "");
  }
}

// One operation over HTTP; resolves to data, or rejects with a GraphQLFailure carrying the error codes.
async function graphql(query, variables, { token = state.token, partial = false } = {}) {
  const headers = { "Content-Type": "application/json", Accept: ACCEPT };
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const response = await fetch(endpoint, {
    method: "POST",
    headers: headers,
    body: JSON.stringify({ query: query, variables: variables }),
    credentials: "omit",
  });
  let body;
  try {
    body = await response.json();
  } catch (notJson) {
    throw new GraphQLFailure([{ message: `HTTP ${response.status} with a body that is not JSON` }]);
  }
  if (body.errors && body.errors.length && !(partial && body.data)) {
    throw new GraphQLFailure(body.errors);
  }
  return body.data;
}

// --- signing in -------------------------------------------------------------------------------------------------

function signedOut(reason) {
  stopLive();
  clearTimeout(state.refreshTimer);
  Object.assign(state, { token: null, refreshToken: null, product: null, sprint: null });
  show("sign-in-panel", true);
  show("panels", false);
  show("product-picker", false);
  show("sign-out", false);
  setLive("offline", "offline");
  $("sign-in-error").textContent = reason || "";
  say("");
}

// Ends the session the page signed in with (a pasted token belongs to whoever pasted it: it is only forgotten).
async function signOut() {
  const ownSession = state.refreshToken !== null;
  const token = state.token;
  signedOut("");
  if (ownSession && token) {
    try {
      await graphql(LOG_OUT, {}, { token: token });
    } catch (failure) {
      $("sign-in-error").textContent = `The session may still be open: ${failure.message}`;
    }
  }
}

function scheduleRefresh(expiresAt) {
  clearTimeout(state.refreshTimer);
  if (!state.refreshToken || !expiresAt) {
    return;
  }
  // A minute before the access token expires, exchange the refresh token and resubscribe with the new one.
  const delay = Math.max(5000, new Date(expiresAt).getTime() - Date.now() - 60000);
  state.refreshTimer = setTimeout(async () => {
    try {
      const data = await graphql(REFRESH, { input: { refreshToken: state.refreshToken } }, { token: null });
      const payload = data.refreshToken;
      if (!payload.accessToken) {
        throw new GraphQLFailure(payload.userErrors);
      }
      state.token = payload.accessToken;
      state.refreshToken = payload.refreshToken;
      scheduleRefresh(payload.expiresAt);
      subscribe();
    } catch (failure) {
      signedOut(`Signed out: ${failure.message}`);
    }
  }, delay);
}

async function signIn(token, refreshToken, expiresAt) {
  state.token = token;
  state.refreshToken = refreshToken || null;
  scheduleRefresh(expiresAt);
  $("sign-in-error").textContent = "";
  try {
    const data = await graphql(PRODUCTS, {});
    show("sign-in-panel", false);
    show("sign-out", true);
    renderPicker(data.products.nodes);
  } catch (failure) {
    signedOut(failure.codes.includes("UNAUTHENTICATED") ? "That token is not valid." : failure.message);
  }
}

async function logIn(event) {
  event.preventDefault();
  const form = event.target;
  const input = { email: form.email.value, password: form.password.value };
  try {
    const payload = (await graphql(LOG_IN, { input: input }, { token: null })).logIn;
    if (payload.mfaRequired) {
      $("sign-in-error").textContent =
        "This account needs a second factor: sign in with GraphiQL (completeMfaLogIn) and paste the access token.";
      return;
    }
    if (!payload.accessToken) {
      $("sign-in-error").textContent = payload.userErrors.map((e) => e.message).join(" ") || "Sign-in failed.";
      return;
    }
    form.password.value = "";
    await signIn(payload.accessToken, payload.refreshToken, payload.expiresAt);
  } catch (failure) {
    $("sign-in-error").textContent = failure.message;
  }
}

async function useToken(event) {
  event.preventDefault();
  const token = event.target.token.value.trim().replace(/^Bearer\s+/i, "");
  event.target.token.value = "";
  await signIn(token, null, null);
}

// --- the product and its figures --------------------------------------------------------------------------------

function renderPicker(products) {
  const select = $("product");
  select.replaceChildren(
    ...products.map((product) => {
      const option = document.createElement("option");
      option.value = product.id;
      option.textContent = `${product.name} (${product.key})`;
      option.dataset.key = product.key;
      return option;
    })
  );
  show("product-picker", products.length > 0);
  if (!products.length) {
    say("No product yet: create one with the createProduct mutation.");
    return;
  }
  const wanted = new URLSearchParams(window.location.search).get("product");
  const chosen = products.find((p) => p.key === wanted || p.id === wanted) || products[0];
  select.value = chosen.id;
  selectProduct(chosen.id);
}

async function selectProduct(productId) {
  stopLive();
  state.productId = productId;
  state.sprint = null;
  const option = $("product").selectedOptions[0];
  if (option) {
    const url = new URL(window.location.href);
    url.searchParams.set("product", option.dataset.key);
    window.history.replaceState(null, "", url);
  }
  say("Loading…");
  try {
    await loadFigures();
  } catch (failure) {
    say(failure.message);
    return;
  }
  say("");
  show("panels", true);
  subscribe();
}

// The product-wide figures: velocity, cumulative flow, and (from them) the forecast. Runs again after live changes.
async function loadFigures() {
  const productId = state.productId;
  const data = await graphql(PRODUCT, { id: productId });
  if (productId !== state.productId) {
    return; // another product was picked meanwhile
  }
  state.product = data.product;
  drawVelocity(data.product.velocity);
  drawFlow(data.product.cumulativeFlow);
  const [sprint] = data.product.activeSprints.nodes;
  if (!sprint) {
    state.sprint = null;
    $("sprint-name").textContent = "";
    $("burndown").replaceChildren(note("No active sprint: start one (startSprint) to follow its burndown here."));
    $("burndown-panel").dataset.remainingPoints = "";
    $("sprint-summary").textContent = "";
  }
  await drawForecast();
}

function note(message) {
  const paragraph = document.createElement("p");
  paragraph.className = "empty";
  paragraph.textContent = message;
  return paragraph;
}

function drawVelocity(velocity) {
  const sprints = velocity.sprints;
  if (!sprints.length) {
    $("velocity").replaceChildren(note("No closed sprint yet."));
    $("velocity-summary").textContent = "";
    return;
  }
  barChart(
    $("velocity"),
    sprints.map((s) => s.sprint.name),
    [
      { key: "committed", name: "Committed", className: "committed", values: sprints.map((s) => s.committedPoints) },
      { key: "completed", name: "Completed", className: "completed", values: sprints.map((s) => s.completedPoints) },
    ],
    "Committed and completed points per closed sprint"
  );
  const mean = velocity.meanCompletedPoints;
  const spread = velocity.completedPointsStandardDeviation;
  $("velocity-summary").textContent = `Mean ${mean.toFixed(1)} points completed per sprint (± ${spread.toFixed(1)}).`;
}

function drawFlow(days) {
  const labels = days.map((d) => d.date.slice(5));
  const series = STATUSES.map((status) => ({
    key: status,
    name: status.replace("_", " ").toLowerCase(),
    className: `status-${status.toLowerCase().replace("_", "-")}`,
    values: days.map((d) => (d.counts.find((c) => c.status === status) || { count: 0 }).count),
  }));
  const drawn = stackedAreaChart($("flow"), labels, series, "Requirements per status at the end of each day");
  drawn.dataset.total = days.length ? String(days[days.length - 1].total) : "0";
}

function drawBurndown(sprint) {
  $("sprint-name").textContent = sprint.name;
  const days = sprint.burndown || [];
  const panel = $("burndown-panel");
  if (!days.length) {
    $("burndown").replaceChildren(note("The sprint has not started."));
    panel.dataset.remainingPoints = "";
    return;
  }
  // The axis runs to the sprint's end date: the days still to come have no figures yet, only the ideal line.
  const dates = days.map((d) => d.date);
  const future = [];
  if (sprint.endsOn) {
    for (let day = nextDay(dates[dates.length - 1]); day <= sprint.endsOn && future.length < 366; day = nextDay(day)) {
      future.push(day);
    }
  }
  const last = dates.length + future.length - 1;
  const committed = days[0].idealPoints;
  const ideal = days.map((d) => d.idealPoints).concat(future.map((_, i) => committed * (1 - (dates.length + i) / last)));
  const blanks = future.map(() => null);
  const drawn = lineChart(
    $("burndown"),
    dates.concat(future).map((date) => date.slice(5)),
    [
      { key: "ideal", name: "Ideal", className: "ideal", values: ideal },
      { key: "scope", name: "Scope", className: "scope", values: days.map((d) => d.scopePoints).concat(blanks) },
      {
        key: "remaining",
        name: "Remaining",
        className: "remaining",
        values: days.map((d) => d.remainingPoints).concat(blanks),
      },
    ],
    `Burndown of ${sprint.name}`
  );
  const today = days[days.length - 1];
  panel.dataset.remainingPoints = String(today.remainingPoints);
  drawn.dataset.remainingPoints = String(today.remainingPoints);
  const ends = sprint.endsOn ? `, ends ${sprint.endsOn}` : "";
  $("sprint-summary").textContent =
    `${today.remainingPoints} of ${today.scopePoints} points remaining, ${today.donePoints} done` +
    ` (${today.scopeAddedPoints} added, ${today.scopeRemovedPoints} removed since the start${ends}).`;
}

function nextDay(isoDate) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

async function drawForecast() {
  const container = $("forecast");
  const product = state.product;
  const [release] = product.openReleases.nodes;
  let forecast;
  try {
    if (release) {
      $("forecast-subject").textContent = `release ${release.name}`;
      forecast = (await graphql(RELEASE_FORECAST, { id: release.id })).node.forecast;
    } else if (state.sprint) {
      const open = state.sprint.requirements.nodes.filter((r) => r.status !== "DONE" && r.status !== "CANCELED");
      $("forecast-subject").textContent = `the open work of ${state.sprint.name}`;
      if (!open.length) {
        container.replaceChildren(note("Nothing left to finish in the sprint."));
        container.dataset.remaining = "0";
        return;
      }
      const variables = { product: product.id, ids: open.map((r) => r.id) };
      forecast = (await graphql(SPRINT_FORECAST, variables)).product.forecast;
    } else {
      $("forecast-subject").textContent = "";
      container.replaceChildren(note("No open release or active sprint to forecast."));
      container.dataset.remaining = "";
      return;
    }
  } catch (failure) {
    const message = failure.codes && failure.codes.includes("INSUFFICIENT_HISTORY")
      ? "Not enough history: nothing was finished in the last 12 full weeks."
      : failure.message;
    container.replaceChildren(note(message));
    container.dataset.remaining = "";
    return;
  }
  renderForecast(container, forecast);
}

function renderForecast(container, forecast) {
  const list = document.createElement("dl");
  const rows = [
    ["Left to finish", `${forecast.remaining} requirements`],
    ["50% likely by", forecast.completionDate50 || "beyond ten years"],
    ["85% likely by", forecast.completionDate85 || "beyond ten years"],
    ["95% likely by", forecast.completionDate95 || "beyond ten years"],
  ];
  if (forecast.targetDate) {
    const chance = forecast.probabilityOnTarget === null ? "-" : `${Math.round(forecast.probabilityOnTarget * 100)}%`;
    rows.push([`On target (${forecast.targetDate})`, chance]);
  }
  rows.push(["Weekly throughput sampled", forecast.weeklyThroughput.join(", ")]);
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  container.replaceChildren(list);
  container.dataset.remaining = String(forecast.remaining);
  container.dataset.completionDate85 = forecast.completionDate85 || "";
}

// --- live updates -----------------------------------------------------------------------------------------------

function stopLive() {
  clearTimeout(state.retryTimer);
  clearTimeout(state.refreshFiguresTimer);
  state.generation += 1; // callbacks of the subscriptions stopped here see they are stale and do nothing
  const stops = state.stops;
  state.stops = [];
  stops.forEach((stop) => stop());
}

function messages(result) {
  return ((result && result.errors) || []).map((e) => e.message).join("; ") || "the connection closed";
}

function activeSprintId() {
  const [sprint] = state.product ? state.product.activeSprints.nodes : [];
  return sprint ? sprint.id : null;
}

// Two subscriptions: the product's sprints (one starting or closing changes what to follow) and, while one runs,
// the active sprint's dashboard, whose first event is the sprint as it is and each later one a change in it.
function subscribe() {
  stopLive();
  const product = state.product;
  if (!product || !state.token) {
    setLive("offline", "offline");
    return;
  }
  const generation = state.generation;
  const current = () => state.generation === generation;
  const credential = { Authorization: `Bearer ${state.token}` };
  const ended = (reason) => {
    if (current()) {
      stopLive();
      lost(reason);
    }
  };
  const sprintId = activeSprintId();
  state.subscribedSprintId = sprintId;
  state.stops.push(
    window.PrismGraphQLWS.subscribe(
      socketUrl,
      { query: SPRINT_CHANGES, variables: { product: product.id }, operationName: "DashboardSprints" },
      credential,
      {
        next: (result) => {
          if (!current()) {
            return;
          }
          if (result.errors && result.errors.length) {
            ended(messages(result));
            return;
          }
          refreshFiguresSoon();
        },
        error: (result) => ended(messages(result)),
        complete: () => ended("the product's sprint changes ended (the product was deleted?)"),
      }
    )
  );
  if (!sprintId) {
    setLive("idle", "no active sprint");
    return;
  }
  setLive("connecting", "connecting…");
  let first = true;
  state.stops.push(
    window.PrismGraphQLWS.subscribe(
      socketUrl,
      { query: SPRINT_DASHBOARD, variables: { sprint: sprintId }, operationName: "DashboardSprint" },
      credential,
      {
        next: (result) => {
          if (!current()) {
            return;
          }
          if (result.errors && result.errors.length) {
            ended(messages(result));
            return;
          }
          state.retry = 0;
          setLive("live", "live");
          state.sprint = result.data.sprintDashboard;
          drawBurndown(state.sprint);
          if (first) {
            first = false;
            if (!product.openReleases.nodes.length) {
              drawForecast();
            }
          } else {
            refreshFiguresSoon();
          }
        },
        error: (result) => ended(messages(result)),
        complete: () => ended("the sprint's dashboard ended (the sprint was deleted?)"),
      }
    )
  );
}

// A change in the sprint moves velocity, flow and forecast too: reread them once a burst of changes settles, and
// follow another sprint when the active one changed.
function refreshFiguresSoon() {
  clearTimeout(state.refreshFiguresTimer);
  state.refreshFiguresTimer = setTimeout(() => {
    loadFigures()
      .then(() => {
        if (activeSprintId() !== state.subscribedSprintId) {
          subscribe();
        }
      })
      .catch((failure) => say(failure.message));
  }, REFRESH_DELAY_MS);
}

function lost(reason) {
  if (/4403|UNAUTHENTICATED|Forbidden/.test(reason)) {
    signedOut(`Signed out: ${reason}`);
    return;
  }
  const wait = RETRY_SECONDS[Math.min(state.retry, RETRY_SECONDS.length - 1)];
  state.retry += 1;
  setLive("offline", `offline, retrying in ${wait} s`);
  say(reason);
  state.retryTimer = setTimeout(() => {
    loadFigures()
      .then(() => subscribe())
      .catch((failure) => lost(failure.message));
  }, wait * 1000);
}

$("sign-in").addEventListener("submit", logIn);
$("token-form").addEventListener("submit", useToken);
$("product").addEventListener("change", (event) => selectProduct(event.target.value));
$("sign-out").addEventListener("click", signOut);
signedOut("");
