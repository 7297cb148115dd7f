import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  connectorErrorFromResponse,
  createOutboundFetch,
  isHostAllowed,
  retryAfterMs,
  type HostLookup,
  type OutboundFetch,
  type OutboundFetchOptions,
} from "../../src/connectors/outbound-http.ts";
import { ConnectorError } from "../../src/connectors/types.ts";

interface TestServer {
  port: number;
  seen: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startServer(
  handler: http.RequestListener = (_req, res) => res.end("ok"),
): Promise<TestServer> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A resolver from a table, so no test touches real DNS. */
function tableLookup(
  table: Record<string, string | string[]>,
  calls: string[] = [],
): HostLookup {
  return (hostname, _options, callback) => {
    calls.push(hostname);
    const entry = table[hostname];
    if (entry === undefined) {
      const error: NodeJS.ErrnoException = new Error(
        `getaddrinfo ENOTFOUND ${hostname}`,
      );
      error.code = "ENOTFOUND";
      callback(error, []);
      return;
    }
    const list = Array.isArray(entry) ? entry : [entry];
    callback(
      null,
      list.map((address) => ({
        address,
        family: address.includes(":") ? 6 : 4,
      })),
    );
  };
}

async function rejects(
  promise: Promise<unknown>,
  kind: ConnectorError["kind"],
  message?: RegExp,
): Promise<ConnectorError> {
  const error = await promise.then(
    () => assert.fail(`expected ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectorError, String(error));
  assert.equal(error.kind, kind, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

describe("outbound http", () => {
  let server: TestServer;
  const fetches: OutboundFetch[] = [];
  const outbound = (options: OutboundFetchOptions) => {
    const f = createOutboundFetch(options);
    fetches.push(f);
    return f;
  };

  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    await Promise.all(fetches.splice(0).map((f) => f.close()));
    await server.close();
  });

  describe("allowlist", () => {
    it("allows loopback by default", async () => {
      const f = outbound({ allowedHosts: ["127.0.0.1"] });
      const res = await f(`http://127.0.0.1:${server.port}/x`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      assert.match(String(server.seen[0]!["user-agent"]), /^scim-lifecycle\//);
    });

    it("refuses a host that is not listed, without sending anything", async () => {
      const calls: string[] = [];
      const f = outbound({
        allowedHosts: ["app.test"],
        lookup: tableLookup({ "evil.test": "127.0.0.1" }, calls),
      });
      await rejects(
        f(`http://evil.test:${server.port}/`),
        "misconfigured",
        /evil\.test is not in the app's allowed hosts/,
      );
      await rejects(f(`http://127.0.0.1:${server.port}/`), "misconfigured");
      assert.deepEqual(calls, []);
      assert.equal(server.seen.length, 0);
    });

    it("matches *.domain wildcards on subdomains only", async () => {
      const f = outbound({
        allowedHosts: ["*.example.test"],
        lookup: tableLookup({
          "api.example.test": "127.0.0.1",
          "example.test": "127.0.0.1",
        }),
      });
      assert.equal(
        (await f(`http://API.example.test:${server.port}/`)).status,
        200,
      );
      await rejects(f(`http://example.test:${server.port}/`), "misconfigured");
      assert.equal(
        isHostAllowed("evilexample.test", ["*.example.test"]),
        false,
      );
      assert.equal(
        isHostAllowed("a.b.example.test.", ["*.example.test"]),
        true,
      );
    });

    it("refuses URLs that are not http or https", async () => {
      const f = outbound({ allowedHosts: ["127.0.0.1", ""] });
      await rejects(
        f("file:///etc/passwd"),
        "misconfigured",
        /only http and https/,
      );
      await rejects(f("ftp://127.0.0.1/x"), "misconfigured");
      await rejects(f("not a url"), "misconfigured");
    });
  });

  describe("link-local and metadata addresses", () => {
    it("refuses 169.254.169.254 and its IPv6-mapped form even when listed", async () => {
      const f = outbound({
        allowedHosts: [
          "169.254.169.254",
          "::ffff:169.254.169.254",
          "fd00:ec2::254",
          "100.100.100.200",
        ],
      });
      await rejects(
        f("http://169.254.169.254/latest/meta-data/"),
        "misconfigured",
        /metadata/,
      );
      await rejects(f("http://[::ffff:169.254.169.254]/"), "misconfigured");
      await rejects(f("http://[fd00:ec2::254]/"), "misconfigured", /metadata/);
      await rejects(f("http://100.100.100.200/"), "misconfigured", /metadata/);
    });

    it("refuses metadata.google.internal by name", async () => {
      const f = outbound({
        allowedHosts: ["metadata.google.internal"],
        lookup: tableLookup({ "metadata.google.internal": "127.0.0.1" }),
      });
      await rejects(
        f(`http://metadata.google.internal:${server.port}/`),
        "misconfigured",
        /metadata service/,
      );
      assert.equal(server.seen.length, 0);
    });

    it("refuses a hostname that resolves to a link-local address, checked at connect time", async () => {
      const f = outbound({
        allowedHosts: ["sneaky.test", "sneaky6.test", "mixed.test"],
        lookup: tableLookup({
          "sneaky.test": "169.254.10.10",
          "sneaky6.test": "fe80::1",
          "mixed.test": ["127.0.0.1", "169.254.169.254"],
        }),
      });
      await rejects(
        f(`http://sneaky.test:${server.port}/`),
        "misconfigured",
        /resolves to a link-local address/,
      );
      await rejects(
        f(`http://sneaky6.test:${server.port}/`),
        "misconfigured",
        /link-local/,
      );
      await rejects(
        f(`http://mixed.test:${server.port}/`),
        "misconfigured",
        /metadata/,
      );
      assert.equal(server.seen.length, 0);
    });

    it("checks every new connection, so a rebinding name is refused on its second answer", async () => {
      await server.close();
      server = await startServer((_req, res) => {
        res.setHeader("Connection", "close");
        res.end("ok");
      });
      const answers = ["127.0.0.1", "169.254.169.254"];
      const f = outbound({
        allowedHosts: ["rebind.test"],
        lookup: (_hostname, _options, callback) =>
          callback(null, [
            { address: answers.shift() ?? "169.254.169.254", family: 4 },
          ]),
      });
      assert.equal((await f(`http://rebind.test:${server.port}/`)).status, 200);
      await rejects(
        f(`http://rebind.test:${server.port}/`),
        "misconfigured",
        /link-local|metadata/,
      );
      assert.equal(server.seen.length, 1);
    });

    it("refuses loopback when private networks are not allowed", async () => {
      const f = outbound({
        allowedHosts: ["127.0.0.1", "app.test"],
        allowPrivateNetworks: false,
        lookup: tableLookup({ "app.test": "10.1.2.3" }),
      });
      await rejects(
        f(`http://127.0.0.1:${server.port}/`),
        "misconfigured",
        /private or loopback/,
      );
      await rejects(
        f(`http://app.test:${server.port}/`),
        "misconfigured",
        /private or loopback/,
      );
    });
  });

  describe("failures", () => {
    it("turns a timeout into retryable", async () => {
      await server.close();
      server = await startServer(() => undefined); // never answers
      const f = outbound({ allowedHosts: ["127.0.0.1"], timeoutMs: 100 });
      await rejects(
        f(`http://127.0.0.1:${server.port}/slow`),
        "retryable",
        /did not answer within 100 ms/,
      );
    });

    it("turns a refused connection and an unknown name into retryable", async () => {
      const port = server.port;
      await server.close();
      server = await startServer();
      const f = outbound({
        allowedHosts: ["127.0.0.1", "gone.test"],
        lookup: tableLookup({}),
      });
      await rejects(
        f(`http://127.0.0.1:${port}/`),
        "retryable",
        /ECONNREFUSED/,
      );
      await rejects(f(`http://gone.test:${port}/`), "retryable", /ENOTFOUND/);
    });

    it("follows redirects only to allowed hosts and drops credentials across origins", async () => {
      const target = await startServer();
      try {
        await server.close();
        server = await startServer((req, res) => {
          if (req.url === "/landed") return void res.end("landed");
          const to =
            req.url === "/same"
              ? "/landed"
              : req.url === "/other"
                ? `http://other.test:${target.port}/landed`
                : `http://evil.test:${target.port}/`;
          res.writeHead(302, { Location: to });
          res.end();
        });
        const f = outbound({
          allowedHosts: ["127.0.0.1", "other.test"],
          lookup: tableLookup({
            "other.test": "127.0.0.1",
            "evil.test": "127.0.0.1",
          }),
        });
        const auth = { authorization: "Bearer secret-token" };
        const same = await f(`http://127.0.0.1:${server.port}/same`, {
          headers: auth,
        });
        assert.equal(await same.text(), "landed");
        assert.equal(server.seen.at(-1)!.authorization, "Bearer secret-token");
        await rejects(
          f(`http://127.0.0.1:${server.port}/evil`),
          "misconfigured",
          /evil\.test/,
        );
        const other = await f(`http://127.0.0.1:${server.port}/other`, {
          headers: auth,
        });
        assert.equal(other.status, 200);
        assert.equal(target.seen.at(-1)!.authorization, undefined);
      } finally {
        await target.close();
      }
    });
  });

  describe("requests and responses", () => {
    it("sends a form body as fetch would and reads the answer as a standard Response", async () => {
      const received: { type?: string; body: string }[] = [];
      const app = await startServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
          received.push({ type: req.headers["content-type"], body });
          res.setHeader("set-cookie", ["a=1", "b=2"]);
          res.setHeader("content-type", "application/json");
          res.end('{"ok":true}');
        });
      });
      try {
        const f = outbound({ allowedHosts: ["127.0.0.1"] });
        const res = await f(`http://127.0.0.1:${app.port}/token`, {
          method: "POST",
          body: new URLSearchParams({ grant_type: "client_credentials" }),
        });
        assert.deepEqual(received, [
          {
            type: "application/x-www-form-urlencoded;charset=UTF-8",
            body: "grant_type=client_credentials",
          },
        ]);
        assert.equal(res.status, 200);
        assert.equal(res.ok, true);
        assert.deepEqual(await res.json(), { ok: true });
        assert.equal(res.headers.get("set-cookie"), "a=1, b=2");
      } finally {
        await app.close();
      }
    });

    it("never asks for a compressed answer, whatever the caller's headers say", async () => {
      const f = outbound({ allowedHosts: ["127.0.0.1"] });
      const res = await f(`http://127.0.0.1:${server.port}/`, {
        headers: { "accept-encoding": "gzip, br" },
      });
      assert.equal(await res.text(), "ok");
      assert.equal(server.seen[0]?.["accept-encoding"], undefined);
    });

    it("gives 204 answers no body", async () => {
      const app = await startServer((_req, res) => {
        res.statusCode = 204;
        res.end();
      });
      try {
        const res = await outbound({ allowedHosts: ["127.0.0.1"] })(
          `http://127.0.0.1:${app.port}/`,
        );
        assert.equal(res.status, 204);
        assert.equal(res.body, null);
      } finally {
        await app.close();
      }
    });
  });

  describe("retryAfterMs", () => {
    const now = new Date("2026-03-01T09:00:00.000Z");
    it("reads delay-seconds and HTTP-dates", () => {
      assert.equal(retryAfterMs("7", now), 7_000);
      assert.equal(retryAfterMs(" 0 ", now), 0);
      assert.equal(retryAfterMs("1.5", now), 1_500);
      assert.equal(retryAfterMs("Sun, 01 Mar 2026 09:00:30 GMT", now), 30_000);
      assert.equal(retryAfterMs("Sun, 01 Mar 2026 08:00:00 GMT", now), 0);
    });
    it("ignores absent and unreadable values", () => {
      assert.equal(retryAfterMs(null, now), undefined);
      assert.equal(retryAfterMs("", now), undefined);
      assert.equal(retryAfterMs("soon", now), undefined);
      assert.equal(retryAfterMs("-5", now), undefined);
    });
  });

  describe("connectorErrorFromResponse", () => {
    const response = (
      status: number,
      body?: unknown,
      headers: Record<string, string> = {},
    ) =>
      new Response(body === undefined ? null : JSON.stringify(body), {
        status,
        headers,
      });

    it("maps statuses to kinds", async () => {
      const cases: [number, ConnectorError["kind"]][] = [
        [500, "retryable"],
        [502, "retryable"],
        [503, "retryable"],
        [408, "retryable"],
        [401, "misconfigured"],
        [403, "misconfigured"],
        [400, "rejected"],
        [404, "rejected"],
        [409, "rejected"],
        [429, "rate_limited"],
      ];
      for (const [status, kind] of cases) {
        const error = await connectorErrorFromResponse(response(status), "app");
        assert.equal(error.kind, kind, String(status));
        assert.equal(error.status, status);
      }
    });

    it("gives a 429 a Retry-After, 60 s when the app names none", async () => {
      const named = await connectorErrorFromResponse(
        response(429, undefined, { "Retry-After": "7" }),
        "app",
      );
      assert.equal(named.retryAfterMs, 7_000);
      const unnamed = await connectorErrorFromResponse(response(429), "app");
      assert.equal(unnamed.retryAfterMs, 60_000);
    });

    it("cuts the app's token from anything the app echoes back", async () => {
      const error = await connectorErrorFromResponse(
        response(401, { message: "invalid token Bearer tok-123-secret" }),
        "app",
        { redact: ["tok-123-secret", undefined] },
      );
      assert.equal(
        error.message,
        "app answered 401: invalid token Bearer [redacted]",
      );
    });

    it("takes the code from a SCIM or JSON error body", async () => {
      const scim = await connectorErrorFromResponse(
        response(409, {
          schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
          status: "409",
          scimType: "uniqueness",
          detail: "taken",
        }),
        "Slack",
      );
      assert.equal(scim.code, "uniqueness");
      assert.equal(scim.message, "Slack answered 409 uniqueness: taken");
      const plain = await connectorErrorFromResponse(
        response(422, { code: "seat_limit", message: "no seats" }),
        "app",
      );
      assert.equal(plain.code, "seat_limit");
      const text = await connectorErrorFromResponse(
        new Response("Bad Gateway", { status: 502 }),
        "app",
      );
      assert.equal(text.code, undefined);
      assert.match(text.message, /Bad Gateway/);
    });
  });
});
