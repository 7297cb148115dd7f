import {
  connectorErrorFromResponse,
  fetchFromApp,
  readJsonBody,
} from "../outbound-http.ts";
import { ConnectorError, type ConnectorContext } from "../types.ts";

/** A resource as a SCIM app answers it. */
export type ScimResource = Record<string, unknown> & { id: string };

function isResource(value: unknown): value is ScimResource {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof (value as { id?: unknown }).id === "string"
  );
}

/** A SCIM filter string literal (RFC 7644 §3.4.2.2 uses JSON string syntax). */
export function scimLiteral(value: string): string {
  return JSON.stringify(value);
}

/** The SCIM calls the connector makes, with failures already mapped to ConnectorErrors. */
export function createScimHttpClient(
  config: { baseUrl: string; token: string },
  ctx: ConnectorContext,
) {
  const base = config.baseUrl.replace(/\/+$/, "");
  const appName = `SCIM app ${new URL(config.baseUrl).host}`;

  async function send(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${config.token}`,
      accept: "application/scim+json, application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/scim+json";
    return fetchFromApp(ctx.fetch, `${base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  /** The resource in a response body (a malformed success is worth another try). */
  async function resourceOf(
    res: Response,
    what: string,
  ): Promise<ScimResource> {
    const body = await readJsonBody(res);
    if (!isResource(body)) {
      throw new ConnectorError(
        "retryable",
        `${appName} answered ${what} without a SCIM resource`,
        { status: res.status },
      );
    }
    return body;
  }

  /** Sends and returns the response when its status is ok or listed in `allow`. */
  async function call(
    method: string,
    path: string,
    body?: unknown,
    allow: number[] = [],
  ): Promise<Response> {
    const res = await send(method, path, body);
    if (res.ok || allow.includes(res.status)) return res;
    throw await connectorErrorFromResponse(res, appName, {
      redact: [config.token],
    });
  }

  /** GET /{type}/{id}, or undefined on 404. */
  async function getById(
    type: "Users" | "Groups",
    id: string,
    query = "",
  ): Promise<ScimResource | undefined> {
    const res = await call(
      "GET",
      `/${type}/${encodeURIComponent(id)}${query}`,
      undefined,
      [404],
    );
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    return resourceOf(res, `GET /${type}/{id}`);
  }

  /**
   * The one resource whose `attribute` equals `value` (`eq` filter), or undefined. Results are
   * checked again here: some servers ignore filters they do not support and list everything.
   */
  async function findOne(
    type: "Users" | "Groups",
    attribute: "userName" | "externalId" | "displayName",
    value: string,
    extraQuery = "",
  ): Promise<ScimResource | undefined> {
    const filter = `${attribute} eq ${scimLiteral(value)}`;
    const res = await call(
      "GET",
      `/${type}?filter=${encodeURIComponent(filter)}${extraQuery}`,
    );
    const list = (await readJsonBody(res)) as
      { Resources?: unknown } | undefined;
    // externalId is caseExact (RFC 7643 §3.1); userName and displayName are not.
    const same =
      attribute === "externalId"
        ? (v: unknown) => v === value
        : (v: unknown) =>
            typeof v === "string" && v.toLowerCase() === value.toLowerCase();
    const resources = Array.isArray(list?.Resources)
      ? list.Resources.filter(isResource).filter((r) => same(r[attribute]))
      : [];
    if (resources.length > 1) {
      throw new ConnectorError(
        "rejected",
        `${appName} has ${resources.length} ${type} matching ${filter}`,
        { code: "ambiguous_match" },
      );
    }
    return resources[0];
  }

  return { appName, call, resourceOf, getById, findOne };
}
