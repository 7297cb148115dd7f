import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";

// No Docker engine runs where the tests run: this reads the compose file as Docker would and
// checks it against the code it starts.
interface Service {
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  container_name?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync("docker-compose.yml", "utf8"), {
  merge: true,
}) as { services: Record<string, Service> };
const knownVariables = new Set(
  [...readFileSync("src/config.ts", "utf8").matchAll(/env\.([A-Z_]+)/g)].map(
    (m) => m[1]!,
  ),
);

describe("docker-compose.yml", () => {
  it("runs PostgreSQL, an API and a worker from the image's binary", () => {
    const { postgres, api, worker } = compose.services;
    assert.ok(postgres && api && worker);
    assert.deepEqual(api.command?.slice(-3), ["serve", "--role", "api"]);
    assert.deepEqual(worker.command?.slice(-3), ["serve", "--role", "worker"]);
    for (const service of [api, worker]) {
      assert.ok(existsSync(service.command![1]!), "the binary is in the image");
      assert.equal(service.depends_on?.postgres?.condition, "service_healthy");
      assert.match(
        service.environment?.DATABASE_URL ?? "",
        /^postgres:\/\/scim:.*@postgres:5432\/scim$/,
      );
    }
  });

  it("sets only variables the server reads", () => {
    for (const name of ["api", "worker"]) {
      for (const variable of Object.keys(
        compose.services[name]!.environment ?? {},
      )) {
        assert.ok(
          knownVariables.has(variable),
          `${name} sets ${variable}, which src/config.ts does not read`,
        );
      }
    }
  });

  it("lets the worker scale: no fixed name, no published port", () => {
    const { worker, api } = compose.services;
    assert.equal(worker!.container_name, undefined);
    assert.equal(worker!.ports, undefined);
    assert.equal(worker!.depends_on?.api?.condition, "service_healthy");
    assert.match(api!.healthcheck!.test.join(" "), /\/readyz/);
  });
});
