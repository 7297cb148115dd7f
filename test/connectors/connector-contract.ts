import assert from "node:assert/strict";
import {
  createOutboundFetch,
  type OutboundFetch,
} from "../../src/connectors/outbound-http.ts";
import {
  ConnectorError,
  type ActionRequest,
  type ActionResult,
  type ConnectorDefinition,
  type ConnectorInstance,
  type ConnectorContext,
} from "../../src/connectors/types.ts";

/** A local fake of a downstream app, speaking its HTTP API on 127.0.0.1. */
export interface FakeApp {
  /** Base URL of the running fake (http://127.0.0.1:port). */
  url: string;
  /** The next `count` requests (default 1) get this status, with these headers and JSON body. */
  failNext(
    status: number,
    options?: {
      count?: number;
      headers?: Record<string, string>;
      body?: unknown;
    },
  ): void;
  /**
   * Effects the app applied more than once for the same intent (e.g. suspending a user who was
   * already suspended by us). A correct connector keeps this at 0 across retries.
   */
  duplicateEffects(): number;
  close(): Promise<void>;
}

/** What the shared contract needs from one connector's test file. */
export interface ConnectorContractSetup<Config> {
  definition: ConnectorDefinition<Config>;
  /** Starts a fresh fake app. */
  startFake(): Promise<FakeApp>;
  /** A valid config for the fake, secrets already resolved. */
  configFor(fake: FakeApp): Config;
  /** A config the fake rejects as unauthenticated (wrong token or signature key). */
  badCredentialsConfigFor(fake: FakeApp): Config;
  /**
   * A sequence of requests that walks one user through the connector's lifecycle (e.g. provision,
   * suspend, unsuspend, remove). Each step's `ref` from earlier results is merged in by the suite.
   */
  lifecycle: Omit<ActionRequest, "attempt" | "subject">[];
  /** The user the lifecycle is about (ref empty). */
  subject: ActionRequest["subject"];
  /** A request the fake will answer with an error `status` set by failNext (any action). */
  probe: Omit<ActionRequest, "attempt" | "subject">;
}

/** A connector context on plain fetch, a real clock and a silent logger. */
export function testConnectorContext(): ConnectorContext {
  return {
    fetch: (url, init) =>
      fetch(url, { ...init, signal: AbortSignal.timeout(5_000) }),
    clock: { now: () => new Date() },
    logger: { info: () => undefined, warn: () => undefined },
  };
}

/** Runs `request`, polling while the connector answers in_progress (the worker's job, in small). */
export async function runToCompletion(
  instance: ConnectorInstance,
  request: ActionRequest,
  maxPolls = 50,
): Promise<Extract<ActionResult, { status: "done" }>> {
  let result = await instance.run(request);
  for (let i = 0; result.status === "in_progress"; i++) {
    if (i >= maxPolls) throw new Error(`${request.action} never finished`);
    await new Promise((resolve) =>
      setTimeout(
        resolve,
        Math.min(result.status === "in_progress" ? result.pollAfterMs : 0, 20),
      ),
    );
    result = await instance.run({
      ...request,
      job: { startedAt: new Date().toISOString(), ...result.job },
    });
  }
  return result;
}

async function rejectsWithKind(
  promise: Promise<unknown>,
  kind: ConnectorError["kind"],
): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof ConnectorError,
      `expected ConnectorError, got ${String(error)}`,
    );
    assert.equal(error.kind, kind, error.message);
    return error;
  }
  assert.fail(`expected a ConnectorError of kind ${kind}`);
}

/** The behaviour every connector shows against a fake of its app. */
export function describeConnectorContract<Config>(
  setup: ConnectorContractSetup<Config>,
): void {
  describe(`connector contract: ${setup.definition.id}`, () => {
    let fake: FakeApp;
    beforeEach(async () => {
      fake = await setup.startFake();
    });
    afterEach(async () => {
      await fake.close();
    });

    // Through the same restricted fetch the server gives connectors: the app's own hosts only.
    const fetches: OutboundFetch[] = [];
    afterEach(async () => {
      await Promise.all(fetches.splice(0).map((f) => f.close()));
    });
    const create = (config: Config) => {
      const fetch = createOutboundFetch({
        allowedHosts: setup.definition.hostsOf(config),
        timeoutMs: 5_000,
      });
      fetches.push(fetch);
      return setup.definition.create(config, {
        ...testConnectorContext(),
        fetch,
      });
    };

    it("validates its config schema and lists only real secret fields", () => {
      const config = setup.configFor(fake);
      assert.ok(setup.definition.configSchema.safeParse(config).success);
      assert.equal(setup.definition.configSchema.safeParse({}).success, false);
      for (const field of setup.definition.secretFields) {
        assert.ok(field in (config as Record<string, unknown>), field);
      }
    });

    it("passes check with good credentials and reports misconfigured with bad ones", async () => {
      const ok = await create(setup.configFor(fake)).check();
      assert.equal(ok.ok, true);
      await rejectsWithKind(
        create(setup.badCredentialsConfigFor(fake)).check(),
        "misconfigured",
      );
    });

    it("walks a user through the lifecycle, and repeating each step changes nothing more", async () => {
      const instance = create(setup.configFor(fake));
      let ref: Record<string, unknown> = {};
      for (const step of setup.lifecycle) {
        const request = (attempt: number): ActionRequest => ({
          ...step,
          attempt,
          subject: { ...setup.subject, ref },
        });
        const first = await runToCompletion(instance, request(1));
        ref = { ...ref, ...first.ref };
        // A retry after a lost response: same idempotency key, the effect must not repeat.
        const again = await runToCompletion(instance, request(2));
        ref = { ...ref, ...again.ref };
      }
      assert.equal(fake.duplicateEffects(), 0);
    });

    it("maps 500 to retryable, 429 to rate_limited with Retry-After, 401 to misconfigured", async () => {
      const instance = create(setup.configFor(fake));
      const request: ActionRequest = {
        ...setup.probe,
        attempt: 1,
        subject: { ...setup.subject, ref: {} },
      };
      fake.failNext(500);
      await rejectsWithKind(instance.run(request), "retryable");
      fake.failNext(429, { headers: { "Retry-After": "7" } });
      const limited = await rejectsWithKind(
        instance.run(request),
        "rate_limited",
      );
      assert.equal(limited.retryAfterMs, 7_000);
      fake.failNext(401);
      await rejectsWithKind(instance.run(request), "misconfigured");
    });

    it("reports an unreachable app as retryable", async () => {
      const config = setup.configFor(fake);
      await fake.close();
      await rejectsWithKind(
        create(config).run({
          ...setup.probe,
          attempt: 1,
          subject: { ...setup.subject, ref: {} },
        }),
        "retryable",
      );
      fake = await setup.startFake(); // afterEach closes it
    });
  });
}
