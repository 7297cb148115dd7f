import assert from "node:assert/strict";
import { deriveAppHealth } from "../../src/http/console-app-health.ts";
import {
  formatDuration,
  html,
  htmlToString,
} from "../../src/http/console-html.ts";
import { safeNextPath } from "../../src/http/console-session.ts";
import type { AppActionSummary } from "../../src/store/actions-store.ts";

// The console's pure helpers (no database): they belong with the unit tests, but test/unit/ is
// not the console's to edit; move this file there when convenient.
describe("admin console helpers", () => {
  describe("html", () => {
    it("escapes text in elements and quoted attributes, and keeps nested markup", () => {
      const name = `"><script>alert('x')</script>&\``;
      const out = htmlToString(
        html`<a title="${name}">${name}</a>${[html`<b>${1}</b>`, false, null]}`,
      );
      assert.equal(
        out,
        `<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;">` +
          `&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;</a><b>1</b>`,
      );
    });

    it("refuses to render an object that is not markup", () => {
      const sneaky = { toString: () => "<script>" } as unknown as string;
      assert.throws(() => html`${sneaky}`, TypeError);
    });
  });

  describe("safeNextPath", () => {
    it("accepts console paths only", () => {
      assert.equal(
        safeNextPath("/console/users?q=ada"),
        "/console/users?q=ada",
      );
      for (const bad of [
        "https://evil.example/console/",
        "//evil.example/console/x",
        "/console//evil.example",
        "/console/\\evil",
        "/consolex",
        "/admin/v1/policy",
        "/console/users\r\nSet-Cookie: x=1",
        42,
        undefined,
      ]) {
        assert.equal(safeNextPath(bad), undefined, String(bad));
      }
    });
  });

  describe("deriveAppHealth", () => {
    const now = new Date("2026-03-01T12:00:00Z");
    const summary = (over: Partial<AppActionSummary>): AppActionSummary => ({
      app_id: "dropbox",
      succeeded: 0,
      failed: 0,
      retrying: 0,
      due: 0,
      deferred: 0,
      oldest_due_at: null,
      last_succeeded_at: null,
      last_failed_at: null,
      last_error: null,
      ...over,
    });
    const health = (
      s: AppActionSummary | undefined,
      extra: { blockedUntil?: Date; problem?: string; inPolicy?: boolean } = {},
    ) =>
      deriveAppHealth({
        summary: s,
        blockedUntil: extra.blockedUntil,
        problem: extra.problem,
        inPolicy: extra.inPolicy ?? true,
        windowLabel: "last 24 hours",
        now,
      }).level;

    it("ranks the findings worst first", () => {
      assert.equal(health(undefined), "idle");
      assert.equal(health(summary({ succeeded: 3 })), "healthy");
      assert.equal(
        health(
          summary({
            succeeded: 3,
            failed: 1,
            last_failed_at: new Date("2026-03-01T10:00:00Z"),
            last_succeeded_at: new Date("2026-03-01T11:00:00Z"),
          }),
        ),
        "degraded",
      );
      assert.equal(
        health(
          summary({
            succeeded: 3,
            failed: 1,
            last_failed_at: new Date("2026-03-01T11:00:00Z"),
            last_succeeded_at: new Date("2026-03-01T10:00:00Z"),
          }),
        ),
        "failing",
      );
      assert.equal(
        health(summary({ succeeded: 1 }), {
          blockedUntil: new Date("2026-03-01T12:05:00Z"),
        }),
        "waiting",
      );
      assert.equal(
        health(
          summary({ due: 4, oldest_due_at: new Date("2026-03-01T11:00:00Z") }),
        ),
        "degraded",
      );
      assert.equal(
        health(summary({ succeeded: 1 }), { problem: "token missing" }),
        "misconfigured",
      );
      assert.equal(
        health(summary({ succeeded: 1 }), { inPolicy: false }),
        "misconfigured",
      );
    });
  });

  it("formats durations for people", () => {
    assert.deepEqual(
      [850, 1_000, 4_240, 42_000, 180_000, 5 * 3_600_000, 30 * 86_400_000].map(
        formatDuration,
      ),
      ["850 ms", "1 s", "4.2 s", "42 s", "3 min", "5 h", "30 days"],
    );
  });
});
