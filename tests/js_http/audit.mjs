// The graphql-http package's GraphQL-over-HTTP audit, unmodified, against the server at argv[2], run argv[3] times in a
// row (the second time every text the audit sends has been answered before). Prints one JSON line per run: the
// number of audits, of each status, and each audit that did not pass with the response it got.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const rounds = Number(process.argv[3] ?? '1');
for (let round = 0; round < rounds; round++) {
  const results = await auditServer({ url });
  const counts = { ok: 0, warn: 0, error: 0 };
  const failures = [];
  for (const result of results) {
    counts[result.status] += 1;
    if (result.status !== 'ok') {
      const response = result.response;
      failures.push({
        id: result.id,
        name: result.name,
        status: result.status,
        reason: result.reason,
        response: response ? { status: response.status, body: await response.text().catch(() => null) } : null,
      });
    }
  }
  console.log(JSON.stringify({ total: results.length, ...counts, failures }));
}
