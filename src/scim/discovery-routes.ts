import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import { requireScope } from "../http/authenticate.ts";
import { MAX_BULK_OPERATIONS, MAX_BULK_PAYLOAD_BYTES } from "./bulk-routes.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./list-request.ts";
import {
  methodNotAllowed,
  sendScim,
  type BaseUrlOf,
} from "./resource-routes.ts";
import { declareScimResources } from "./schemas.ts";

const DISCOVERY_PATH = /^\/(Schemas|ResourceTypes)(\/|$)/;

/**
 * /ServiceProviderConfig, /Schemas and /ResourceTypes. scimmy renders them from the declared
 * schemas; we set the capabilities to exactly what our own handlers implement.
 */
export function createDiscoveryRoutes(deps: {
  baseUrlOf: BaseUrlOf;
}): express.Router {
  declareScimResources();
  // Authentication already happened in front of this router; scimmy-routers only needs a handler.
  const scimmy = new SCIMMYRouters({
    type: "bearer",
    docUri: "https://datatracker.ietf.org/doc/html/rfc6750",
    handler: () => "",
    baseUri: (req) => deps.baseUrlOf(req).replace(/\/scim\/v2$/, ""),
  });
  // The router sets every capability to true when constructed; state what really works.
  SCIMMY.Config.set({
    patch: { supported: true },
    bulk: {
      supported: true,
      maxOperations: MAX_BULK_OPERATIONS,
      maxPayloadSize: MAX_BULK_PAYLOAD_BYTES,
    },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
  });

  const router = express.Router();
  router.use(requireScope("scim:read"));
  router.get("/ServiceProviderConfig", async (req, res) => {
    const config =
      (await new SCIMMY.Resources.ServiceProviderConfig().read()) as unknown;
    const body = {
      ...JSON.parse(JSON.stringify(config)),
      // RFC 9865: cursor pagination alongside index pagination.
      pagination: {
        cursor: true,
        index: true,
        defaultPaginationMethod: "index",
        defaultPageSize: DEFAULT_PAGE_SIZE,
        maxPageSize: MAX_PAGE_SIZE,
        cursorTimeout: 86_400,
      },
    };
    if (body.meta && typeof body.meta === "object") {
      body.meta.location = `${deps.baseUrlOf(req)}/ServiceProviderConfig`;
    }
    sendScim(res, 200, body);
  });
  router.all("/ServiceProviderConfig", methodNotAllowed("GET"));
  router.use((req, res, next) => {
    if (!DISCOVERY_PATH.test(req.path)) return next();
    if (req.method !== "GET") return methodNotAllowed("GET")(req, res, next);
    res.type("application/scim+json; charset=utf-8");
    // scimmy pages these lists with its own default and reports itemsPerPage 20; report what is sent.
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      const list = body as {
        Resources?: unknown[];
        itemsPerPage?: number;
      } | null;
      if (list && typeof list === "object" && Array.isArray(list.Resources)) {
        list.itemsPerPage = list.Resources.length;
      }
      return send(body);
    };
    scimmy(req, res, next);
  });
  return router;
}
