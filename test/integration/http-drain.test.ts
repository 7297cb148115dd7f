import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Services } from "../../src/app.ts";
import { createGracefulShutdown } from "../../src/cli/graceful-shutdown.ts";
import { createLogger } from "../../src/logger.ts";

describe("graceful shutdown of the HTTP listener", () => {
  it("stops accepting, lets the request in flight finish on a closing connection, then closes", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const server = createServer((_req, res) => {
      arrived();
      void held.then(() => res.end("done"));
    });
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    const port = (server.address() as AddressInfo).port;
    const closed: string[] = [];
    const services = {
      worker: {
        stop: async () => ({ abandoned: 0, released: 0 }),
      },
      close: async () => {
        closed.push("services");
      },
    } as unknown as Pick<Services, "worker" | "close">;
    const shutdown = createGracefulShutdown({
      server,
      services,
      closeDatabases: async () => {
        closed.push("databases");
      },
      budgetMs: 60_000,
      logger: createLogger({ silent: true }),
    });

    // A keep-alive client, as load balancers and IdPs use.
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request(
        {
          port,
          host: "127.0.0.1",
          agent: false,
          headers: { Connection: "keep-alive" },
        },
        resolve,
      )
        .on("error", reject)
        .end();
    });
    await inFlight;
    const stopped = shutdown();

    await assert.rejects(
      fetch(`http://127.0.0.1:${port}/`),
      "new connections are refused",
    );
    assert.deepEqual(closed, [], "nothing closes while a request runs");
    release();
    const res = await response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.connection, "close");
    res.resume();
    await stopped;
    assert.deepEqual(closed, ["services", "databases"]);
  });
});
