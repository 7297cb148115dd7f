import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
} from "../support/fake-dropbox.ts";
import { createTestContext, type TestContext } from "../support/test-app.ts";
import {
  deactivate,
  hire,
  seedConsoleScenario,
  type ConsoleScenario,
} from "./console-fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
// No network here: without the background-networking flags Chromium keeps dialling Google.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOTS = fileURLToPath(
  new URL("../../test-output/console/", import.meta.url),
);

// The console end to end: a real server on loopback, Debian's Chromium driven by playwright-core,
// an operator who signs in, finds a deactivated user, sees the deferred removal, and retries the
// action Dropbox refused. Screenshots of each step land in test-output/console/.
describe("admin console in headless Chromium", function () {
  // Seeding a week of leavers and starting Chromium outlast mocha's default 30 s on a busy machine.
  this.timeout(120_000);
  let ctx: TestContext | undefined;
  let dropbox: FakeDropbox | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let baseUrl: string;
  let scenario: ConsoleScenario;
  const problems: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) {
        throw new Error(
          `${CHROMIUM} is missing; .ci/run installs Debian's chromium package`,
        );
      }
      console.warn(
        `    skipping the browser tests: ${CHROMIUM} is missing (apt-get install chromium)`,
      );
      this.skip();
    }
    mkdirSync(SCREENSHOTS, { recursive: true });
    const context = await createTestContext({
      readSecret: (name) =>
        name === "DROPBOX_TEAM_TOKEN" ? FAKE_DROPBOX_TOKEN : undefined,
    });
    ctx = context;
    dropbox = await startFakeDropbox({
      now: () => context.clock.now(),
      members: [
        {
          email: "admin@example.com",
          teamMemberId: "dbmid:admin",
          role: "team_admin",
        },
      ],
    });
    scenario = await seedConsoleScenario(context, dropbox);
    // A week of earlier leavers, so the clock chart has a line to draw.
    for (let day = 0; day < 6; day += 1) {
      for (const [i, delayMs] of [
        400 + day * 350,
        2_500 + day * 1_800,
      ].entries()) {
        const user = await hire(context, scenario.tenant, `leaver-${day}-${i}`);
        await deactivate(context, scenario.tenant, user, delayMs);
      }
      context.clock.advance("1d");
    }
    server = context.app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server!.once("listening", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // A CSP violation or a script error shows up here; the console has no script at all.
    page.on("console", (message) => {
      // Failed loads are judged by status below (the refused sign-in is a 401 on purpose).
      if (
        message.type() === "error" &&
        !message.text().startsWith("Failed to load resource")
      )
        problems.push(message.text());
    });
    page.on("response", (response) => {
      // The refused sign-in answers 401 on purpose; anything else failing is a problem.
      if (response.status() >= 400 && !response.url().endsWith("/sign-in"))
        problems.push(`${response.status()} ${response.url()}`);
    });
    page.on("pageerror", (error) => problems.push(error.message));
  });

  after(async () => {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await dropbox?.close();
    await ctx?.close();
  });

  /** A locator's text with whitespace collapsed (the templates are formatted by Prettier). */
  const textOf = async (locator: ReturnType<Page["locator"]>) =>
    ((await locator.textContent()) ?? "").replace(/\s+/g, " ").trim();

  const shot = (name: string) =>
    page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

  it("signs in with an admin token after refusing a wrong one", async () => {
    await page.goto(`${baseUrl}/console/users`);
    assert.match(page.url(), /\/console\/sign-in\?next=/);
    await shot("01-sign-in");

    await page.getByLabel("Admin token").fill("scl_this-is-not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(
      await textOf(page.getByRole("alert")),
      /not valid, expired or revoked/,
    );
    await shot("02-sign-in-refused");

    await page.getByLabel("Admin token").fill(scenario.tenant.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${baseUrl}/console/users`);
    assert.equal(
      await textOf(page.getByRole("heading", { level: 1 })),
      "Users",
    );
    await shot("03-users");
  });

  it("finds the deactivated user and sees the pending removal with its due time", async () => {
    await page.getByLabel("Search by userName, name or e-mail").fill("ada");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/console\/users\?q=ada/);
    const row = page.getByRole("row", { name: /Ada Lovelace/ });
    assert.match(await textOf(row), /deactivated/);
    assert.match(await textOf(row), /suspended/);
    assert.match(await textOf(row), /remove in dropbox, 2026-03-31 09:00 UTC/);
    await shot("04-users-search");

    await page.getByRole("link", { name: /^ada-/ }).click();
    await page.waitForURL(`${baseUrl}/console/users/${scenario.ada.id}`);
    assert.equal(
      await textOf(page.getByRole("heading", { level: 1 })),
      "Ada Lovelace",
    );
    const open = page.getByRole("table", {
      name: /Pending, running and failed/,
    });
    assert.match(await textOf(open), /remove pending 2026-03-31 09:00 UTC/);
    const upcoming = page.locator("tr.upcoming");
    assert.equal(await upcoming.count(), 1);
    assert.match(await textOf(upcoming), /remove in dropbox due/);
    await shot("05-user-timeline");

    await page.getByRole("link", { name: "Pending", exact: true }).click();
    await page.waitForURL(`${baseUrl}/console/pending`);
    const pending = page.getByRole("row", { name: /ada-/ });
    assert.match(await textOf(pending), /2026-03-31 09:00 UTC/);
    assert.match(await textOf(pending), /Deferred by rule dropbox-leave/);
    await shot("06-pending");
  });

  it("retries the failed action and it leaves the Failed list", async () => {
    await page.getByRole("link", { name: "Failed", exact: true }).click();
    await page.waitForURL(`${baseUrl}/console/failed`);
    const row = page.locator(`#action-${scenario.failedActionId}`);
    assert.match(await textOf(row), /misconfigured/);
    await shot("07-failed");

    await row
      .getByRole("button", { name: /^Retry suspend in dropbox/ })
      .click();
    await page.waitForURL(/\/console\/failed\?notice=retried/);
    assert.match(
      await textOf(page.getByRole("status")),
      new RegExp(`Action ${scenario.failedActionId} is back in the queue`),
    );
    assert.equal(
      await page.locator(`#action-${scenario.failedActionId}`).count(),
      0,
    );
    await shot("08-failed-after-retry");

    await ctx!.services.worker.runUntilIdle();
    await page.goto(`${baseUrl}/console/users/${scenario.bob.id}`);
    const states = page.getByRole("table", { name: "State in each app" });
    assert.match(await textOf(states), /suspended/);
    await shot("09-retried-user");
  });

  it("shows app health, checks the credentials, and charts the deprovisioning clock", async () => {
    await page.getByRole("link", { name: "Apps", exact: true }).click();
    await page.waitForURL(`${baseUrl}/console/apps`);
    await shot("10-apps");
    await page.getByRole("button", { name: "Check dropbox" }).click();
    await page.getByRole("status").waitFor();
    assert.match(await textOf(page.getByRole("status")), /credentials work/);
    await shot("11-apps-check");

    await page.getByRole("link", { name: "Deprovisioning clock" }).click();
    await page.waitForURL(`${baseUrl}/console/clock`);
    const chart = page.getByRole("img", {
      name: /Deprovisioning clock of dropbox/,
    });
    assert.equal(await chart.count(), 1);
    await page.getByText("Table of the dropbox chart").click();
    assert.ok(
      (await page
        .getByRole("table", { name: /per day/ })
        .locator("tbody tr")
        .count()) >= 6,
    );
    await shot("12-clock");
  });

  it("works from the keyboard: the skip link comes first and shows on focus", async () => {
    await page.goto(`${baseUrl}/console/users`);
    await page.keyboard.press("Tab");
    // A string, so the test's TypeScript needs no DOM types.
    const focused = await page.evaluate(
      "document.activeElement && document.activeElement.textContent",
    );
    assert.equal(focused, "Skip to main content");
    await shot("13-skip-link");
    await page.keyboard.press("Enter");
    assert.match(page.url(), /#main$/);
    assert.deepEqual(
      problems,
      [],
      "no console errors (CSP violations, scripts)",
    );
  });
});
