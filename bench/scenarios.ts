import type { ScenarioName } from "./bench-options.ts";
import type { BenchRequest } from "./run-load.ts";
import { SCIM_PATH, type ScimResponse } from "./scim-client.ts";
import { userBody, type SeededUser } from "./seed-data.ts";

const PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_PAGE_SIZE = 100;

/** One request of a scenario and how to tell that its answer is right. */
export interface ScenarioSample {
  request: BenchRequest;
  /** A problem with the response, or undefined when it is what the scenario expects. */
  check(response: ScimResponse): string | undefined;
}

/** A load scenario: an IdP request shape, randomised per request. */
export interface Scenario {
  name: ScenarioName;
  /** What an IdP sends this for. */
  describes: string;
  sample(): ScenarioSample;
}

/** What the scenarios draw from. */
export interface ScenarioData {
  users: SeededUser[];
  /** The big group and how many of `users` (the first ones) are in it. */
  group: { id: string; members: number } | undefined;
}

interface ListBody {
  totalResults?: number;
  Resources?: { id?: string; userName?: string }[];
}

function randomInt(max: number): number {
  return Math.floor(Math.random() * max);
}

function status(response: ScimResponse, expected: number): string | undefined {
  return response.status === expected
    ? undefined
    : `expected ${expected}, got ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}`;
}

/** Builds the seven scenarios over the seeded users. */
export function createScenarios(data: ScenarioData): Scenario[] {
  const { users, group } = data;
  const pick = () => users[randomInt(users.length)]!;
  // What we last set `active` to, per user, so nearly every PATCH flips it (all start active).
  const active = new Array<boolean>(users.length).fill(true);
  let titleCounter = 0;
  const outsiders = group ? users.slice(group.members) : [];
  let nextOutsider = 0;

  /** A GET /Users with a filter that must match exactly this user. */
  const findsExactly = (user: SeededUser, filter: string): ScenarioSample => ({
    request: {
      method: "GET",
      path: `${SCIM_PATH}/Users?filter=${encodeURIComponent(filter)}`,
    },
    check: (response) => {
      const body = response.body as ListBody;
      return (
        status(response, 200) ??
        (body.totalResults === 1 && body.Resources?.[0]?.id === user.id
          ? undefined
          : `expected exactly ${user.userName}, got totalResults ${body.totalResults}`)
      );
    },
  });

  const lookup: Scenario = {
    name: "lookup",
    describes: "Okta/Entra: does this userName exist? (before every create)",
    sample() {
      const user = pick();
      return findsExactly(user, `userName eq "${user.userName}"`);
    },
  };

  const get: Scenario = {
    name: "get",
    describes: "read one user by id (before a PATCH, on import)",
    sample() {
      const user = pick();
      return {
        request: { method: "GET", path: `${SCIM_PATH}/Users/${user.id}` },
        check: (response) =>
          status(response, 200) ??
          ((response.body as { id?: string }).id === user.id
            ? undefined
            : "wrong user returned"),
      };
    },
  };

  const list: Scenario = {
    name: "list",
    describes:
      "import / reconciliation: a page of 100 users at a random offset",
    sample() {
      const startIndex =
        1 + randomInt(Math.max(1, users.length - LIST_PAGE_SIZE));
      const expected = Math.min(LIST_PAGE_SIZE, users.length - startIndex + 1);
      return {
        request: {
          method: "GET",
          path: `${SCIM_PATH}/Users?startIndex=${startIndex}&count=${LIST_PAGE_SIZE}`,
        },
        check: (response) => {
          const body = response.body as ListBody;
          return (
            status(response, 200) ??
            (body.Resources?.length === expected &&
            body.totalResults === users.length
              ? undefined
              : `expected ${expected} of ${users.length}, got ${body.Resources?.length} of ${body.totalResults}`)
          );
        },
      };
    },
  };

  const coFilter: Scenario = {
    name: "co-filter",
    // `r<i>@bench` occurs in exactly one address: the "r" before and "@bench" after pin <i> down.
    describes:
      'substring search on e-mail, `emails.value co "r<i>@bench"` (matches 1 user)',
    sample() {
      const user = pick();
      return findsExactly(user, `emails.value co "r${user.index}@bench"`);
    },
  };

  const patchActive: Scenario = {
    name: "patch-active",
    describes: "Okta/Entra deactivate/reactivate: PATCH replace active",
    sample() {
      const slot = randomInt(users.length);
      const user = users[slot]!;
      const value = !active[slot];
      active[slot] = value;
      return {
        request: {
          method: "PATCH",
          path: `${SCIM_PATH}/Users/${user.id}`,
          body: JSON.stringify({
            schemas: [PATCH_OP_URN],
            Operations: [{ op: "replace", value: { active: value } }],
          }),
        },
        check: (response) =>
          status(response, 200) ??
          ((response.body as { active?: boolean }).active === value
            ? undefined
            : `active is not ${value} after the PATCH`),
      };
    },
  };

  const put: Scenario = {
    name: "put",
    describes: "Okta profile push: PUT the full user with a changed title",
    sample() {
      const slot = randomInt(users.length);
      const user = users[slot]!;
      titleCounter += 1;
      const title = `Title ${titleCounter}`;
      return {
        request: {
          method: "PUT",
          path: `${SCIM_PATH}/Users/${user.id}`,
          body: JSON.stringify(
            userBody(user.index, { title, active: active[slot] }),
          ),
        },
        check: (response) =>
          status(response, 200) ??
          ((response.body as { title?: string }).title === title
            ? undefined
            : "title not changed by the PUT"),
      };
    },
  };

  const memberAdd: Scenario = {
    name: "member-add",
    describes: "add one member to a big group (PATCH add members)",
    sample() {
      if (!group || outsiders.length === 0) {
        throw new Error("member-add needs the big group and users outside it");
      }
      // Cycles through users outside the group; after a full cycle adds are duplicates (still 204).
      const user = outsiders[nextOutsider % outsiders.length]!;
      nextOutsider += 1;
      return {
        request: {
          method: "PATCH",
          path: `${SCIM_PATH}/Groups/${group.id}`,
          body: JSON.stringify({
            schemas: [PATCH_OP_URN],
            Operations: [
              { op: "add", path: "members", value: [{ value: user.id }] },
            ],
          }),
        },
        check: (response) => status(response, 204),
      };
    },
  };

  return [lookup, get, list, coFilter, patchActive, put, memberAdd];
}

/** How many member-add requests there can be before adds start repeating. */
export function memberAddCapacity(data: ScenarioData): number {
  return data.group ? data.users.length - data.group.members : 0;
}
