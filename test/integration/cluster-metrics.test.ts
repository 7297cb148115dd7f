import assert from "node:assert/strict";
import { startServer, stopServer } from "../support/server-process.ts";

const TOKEN = "scl_cluster_metrics_tests_0123456789abcdef";

/** The value of one unlabelled-or-exactly-labelled sample of a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

// WEB_CONCURRENCY > 1 needs PostgreSQL: this runs only when DATABASE_URL is set.
describe("GET /metrics with WEB_CONCURRENCY=2", function () {
  this.timeout(180_000);

  it("answers with every process's counters summed, whichever process gets the scrape", async function () {
    const databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) this.skip();
    const server = await startServer({
      DATABASE_URL: databaseUrl!,
      WEB_CONCURRENCY: "2",
      SCIM_BOOTSTRAP_TOKEN: TOKEN,
      METRICS_TOKEN: "cluster-metrics-token-0123",
    });
    try {
      // Both processes listen before the requests, so that they are shared between them.
      await new Promise<void>((resolve) => {
        const check = () => {
          if (server.output().split('"message":"listening"').length > 2) {
            server.child.stdout!.off("data", check);
            resolve();
          }
        };
        server.child.stdout!.on("data", check);
        check();
      });
      const origin = new URL(server.baseUrl).origin;
      // Each request on a new connection: the primary hands connections to the workers in turn.
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${origin}/healthz`, {
          headers: { Connection: "close" },
        });
        assert.equal(res.status, 200);
      }
      const series =
        'scim_lifecycle_http_requests_total{method="GET",route="/healthz",status="200"}';
      for (let scrape = 0; scrape < 4; scrape++) {
        const res = await fetch(`${origin}/metrics`, {
          headers: {
            Authorization: "Bearer cluster-metrics-token-0123",
            Connection: "close",
          },
        });
        assert.equal(res.status, 200);
        assert.equal(sample(await res.text(), series), 6, `scrape ${scrape}`);
      }
    } finally {
      assert.equal(await stopServer(server), 0, server.output());
    }
  });
});
