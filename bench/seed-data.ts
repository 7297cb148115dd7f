import type autocannon from "autocannon";
import { runLoad } from "./run-load.ts";
import {
  expectOk,
  SCIM_PATH,
  scimRequest,
  type ScimTarget,
} from "./scim-client.ts";

const CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_USER_URN =
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEED_CONNECTIONS = 32;
const COLLECT_PAGE_SIZE = 1_000;
/** The server's default MAX_BODY_BYTES: a bigger group body goes in PATCH batches. */
const MAX_BODY_BYTES = 1_048_576;
const MEMBER_BATCH = 1_000;
const USER_NAME = /^user(\d+)@bench\.example\.com$/;

/** A seeded user as the scenarios need it. */
export interface SeededUser {
  id: string;
  userName: string;
  /** The `<i>` in `user<i>@bench.example.com`. */
  index: number;
}

/** The userName of seeded user `i`. */
export function userNameOf(index: number): string {
  return `user${index}@bench.example.com`;
}

/** A full SCIM user body, as Okta and Entra send on create and replace. */
export function userBody(
  index: number,
  extra: { title?: string; active?: boolean } = {},
): Record<string, unknown> {
  const given = `Given${index}`;
  const family = `Family${index}`;
  return {
    schemas: [CORE_USER_URN, ENTERPRISE_USER_URN],
    userName: userNameOf(index),
    name: {
      givenName: given,
      familyName: family,
      formatted: `${given} ${family}`,
    },
    displayName: `${given} ${family}`,
    emails: [{ value: userNameOf(index), type: "work", primary: true }],
    active: extra.active ?? true,
    ...(extra.title !== undefined ? { title: extra.title } : {}),
    [ENTERPRISE_USER_URN]: {
      department: `Department ${index % 50}`,
      employeeNumber: String(index),
    },
  };
}

/** Creates users 1..count through POST /Users with autocannon (32 connections, one unique body each). */
export async function seedUsers(
  target: ScimTarget,
  count: number,
): Promise<autocannon.Result> {
  let index = 0;
  return runLoad({
    origin: target.origin,
    token: target.token,
    title: "seed",
    connections: SEED_CONNECTIONS,
    amount: count,
    next: () => {
      index += 1;
      return {
        method: "POST",
        path: `${SCIM_PATH}/Users`,
        body: JSON.stringify(userBody(index)),
      };
    },
  });
}

interface ListPage {
  totalResults: number;
  nextCursor?: string;
  Resources: { id: string; userName: string }[];
}

/** Reads every seeded user's id and userName with cursor paging (RFC 9865), in creation order. */
export async function collectUsers(target: ScimTarget): Promise<SeededUser[]> {
  const users: SeededUser[] = [];
  let cursor = "";
  for (;;) {
    const response = await scimRequest(
      target,
      "GET",
      `${SCIM_PATH}/Users?cursor=${encodeURIComponent(cursor)}&count=${COLLECT_PAGE_SIZE}&attributes=id,userName`,
    );
    expectOk(response, "GET /Users (cursor paging)");
    const page = response.body as ListPage;
    for (const resource of page.Resources) {
      const match = USER_NAME.exec(resource.userName);
      if (match) {
        users.push({
          id: resource.id,
          userName: resource.userName,
          index: Number(match[1]),
        });
      }
    }
    if (!page.nextCursor || page.Resources.length === 0) break;
    cursor = page.nextCursor;
  }
  return users;
}

/** How the big group was made. */
export interface BigGroup {
  id: string;
  members: number;
  method: string;
  seconds: number;
}

/** Creates one group holding `memberIds`: one POST, or an empty POST and PATCH batches past 1 MB. */
export async function createBigGroup(
  target: ScimTarget,
  memberIds: string[],
): Promise<BigGroup> {
  const started = performance.now();
  const body = {
    schemas: [GROUP_URN],
    displayName: "Bench big group",
    members: memberIds.map((value) => ({ value })),
  };
  const text = JSON.stringify(body);
  const oneBody = Buffer.byteLength(text) <= MAX_BODY_BYTES;
  const created = await scimRequest(
    target,
    "POST",
    `${SCIM_PATH}/Groups?excludedAttributes=members`,
    oneBody ? text : { ...body, members: [] },
  );
  expectOk(created, "POST /Groups");
  const id = (created.body as { id: string }).id;
  if (!oneBody) {
    for (let i = 0; i < memberIds.length; i += MEMBER_BATCH) {
      const batch = memberIds.slice(i, i + MEMBER_BATCH);
      const patched = await scimRequest(
        target,
        "PATCH",
        `${SCIM_PATH}/Groups/${id}`,
        {
          schemas: [PATCH_OP_URN],
          Operations: [
            {
              op: "add",
              path: "members",
              value: batch.map((value) => ({ value })),
            },
          ],
        },
      );
      expectOk(patched, `PATCH /Groups/${id} (members ${i + 1}…)`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    id,
    members: memberIds.length,
    method: oneBody
      ? "one POST"
      : `POST + ${Math.ceil(memberIds.length / MEMBER_BATCH)} PATCH batches`,
    seconds: Math.round(seconds * 100) / 100,
  };
}
