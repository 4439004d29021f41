// PostGraphile v5 over PRISM's benchmark database, for `make bench-compare` (docs/performance.md).
//
// Settings from the environment:
//   DATABASE_URL      where to connect: a superuser (row-level security bypassed) or PRISM's login role (bound by it)
//   PORT              the port to listen on, on 127.0.0.1
//   PGL_POOL_SIZE     connections in node-postgres' pool (default 20, PRISM's pool size)
//
// A request's `X-Prism-Org` and `X-Prism-User` headers become the transaction's `prism.org_id` and `prism.user_id`
// settings, the ones PRISM's row-level security policies read (prism/db/engine.py set_tenant): PostGraphile sets
// them with set_config(..., true) in the request's transaction, as PRISM does. Without the headers nothing is set
// (a superuser then reads every row; PRISM's role reads none).
import { createServer } from "node:http";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const connectionString = process.env.DATABASE_URL;
const port = Number(process.env.PORT || "5678");
const poolSize = Number(process.env.PGL_POOL_SIZE || "20");
if (!connectionString) {
  console.error("DATABASE_URL is required");
  process.exit(2);
}

function header(request, name) {
  const value = request?.headers?.[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      // Idle connections stay open between measured phases, as PRISM's pool keeps its own.
      poolConfig: { max: poolSize, idleTimeoutMillis: 600_000 },
      pgSettings(requestContext) {
        const request = requestContext?.node?.req;
        const settings = {};
        const organization = header(request, "x-prism-org");
        const user = header(request, "x-prism-user");
        if (organization) settings["prism.org_id"] = organization;
        if (user) settings["prism.user_id"] = user;
        return settings;
      },
    }),
  ],
  grafserv: { port, host: "127.0.0.1", graphqlPath: "/graphql", watch: false, graphiql: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
server.keepAliveTimeout = 300_000;
server.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}/graphql`));

async function stop() {
  server.close();
  await pgl.release();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
