/** Where the SCIM API is served on the server. */
export const SCIM_PATH = "/scim/v2";

/** The server (`http://127.0.0.1:<port>`) and the token to call it with. */
export interface ScimTarget {
  origin: string;
  token: string;
}

/** A response: status and parsed JSON body (undefined when empty). */
export interface ScimResponse {
  status: number;
  body: unknown;
}

/** Sends one request (path from the origin, e.g. `/scim/v2/Users`) with fetch; load goes through autocannon. */
export async function scimRequest(
  target: ScimTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<ScimResponse> {
  const response = await fetch(`${target.origin}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${target.token}`,
      "content-type": "application/scim+json",
      accept: "application/scim+json",
    },
    ...(body === undefined
      ? {}
      : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === "" ? undefined : (JSON.parse(text) as unknown),
  };
}

/** Throws with the response when the status is not 2xx. */
export function expectOk(response: ScimResponse, what: string): void {
  if (response.status < 200 || response.status > 299) {
    throw new Error(
      `${what} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`,
    );
  }
}
