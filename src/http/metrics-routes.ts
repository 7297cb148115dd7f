import { createHash, timingSafeEqual } from "node:crypto";
import express from "express";
import type { Logger } from "../logger.ts";
import { markAuthFailure } from "./authenticate.ts";

/** Where Prometheus scrapes. */
export const METRICS_PATH = "/metrics";

/**
 * `GET /metrics` in the Prometheus text format. With a token, only `Authorization: Bearer <token>`
 * may read it (compared in constant time); without one it is open, for networks where only the
 * scraper reaches the port.
 */
export function createMetricsRouter(deps: {
  scrape: () => Promise<{ contentType: string; body: string }>;
  token?: string;
  logger: Logger;
}): express.Router {
  const router = express.Router();
  // Digests have one length whatever was sent, so the comparison itself leaks nothing.
  const expected = deps.token ? digest(deps.token) : undefined;
  router.get(METRICS_PATH, async (req, res) => {
    if (expected) {
      const sent = /^bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "");
      if (!sent || !timingSafeEqual(digest(sent[1]!), expected)) {
        markAuthFailure(res, "invalid_metrics_token");
        res.setHeader("WWW-Authenticate", 'Bearer realm="metrics"');
        res.status(401).json({
          error: "unauthorized",
          message: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>",
        });
        return;
      }
    }
    try {
      const { contentType, body } = await deps.scrape();
      res.setHeader("Cache-Control", "no-store");
      res.type(contentType).send(body);
    } catch (error) {
      deps.logger.error("metrics scrape failed", {
        error: (error as Error).message,
      });
      res
        .status(500)
        .json({ error: "internal", message: "metrics unavailable" });
    }
  });
  return router;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
