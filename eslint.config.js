import js from "@eslint/js";
import tseslint from "typescript-eslint";

const layer = (patterns, message) => ({
  group: patterns,
  message,
  allowTypeImports: true,
});

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      "data/",
      "coverage/",
      "bin/",
      "scripts/",
      "eslint.config.js",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": [
        "error",
        { checksVoidReturn: false },
      ],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["src/domain/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            layer(
              [
                "../*",
                "!../domain/*",
                "express",
                "knex",
                "pg",
                "scimmy",
                "winston",
              ],
              "domain/ imports nothing of ours but domain/ (and zod, node:*).",
            ),
          ],
        },
      ],
    },
  },
  {
    files: ["src/store/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            layer(
              [
                "../queue/*",
                "../services/*",
                "../connectors/*",
                "../scim/*",
                "../http/*",
              ],
              "store/ may import db/ types, domain/ and errors.ts only.",
            ),
          ],
        },
      ],
    },
  },
  {
    files: ["src/services/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            layer(
              ["express", "scimmy", "scimmy-routers", "../scim/*", "../http/*"],
              "services/ know nothing of HTTP or SCIM wire types.",
            ),
          ],
        },
      ],
    },
  },
  {
    files: ["src/scim/**/*.ts", "src/http/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            layer(
              ["../queue/*", "../connectors/*", "../db/*"],
              "scim/ and http/ write only through services.",
            ),
          ],
        },
      ],
    },
  },
);
