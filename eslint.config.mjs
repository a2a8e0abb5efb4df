// ESLint for the pages' ES modules (maps/static/js). Run by `make test` (tests/maps/test_eslint.py) and by
// `npx eslint maps/static/js`; installed, pinned, by the set-up (package.json, package-lock.json).
import js from "@eslint/js";
import globals from "globals";

export default [
  {ignores: ["node_modules/**", "var/**", ".venv/**", "test-artifacts/**"]},
  js.configs.recommended,
  {
    files: ["maps/static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        ...globals.browser,
        L: "readonly",  // Leaflet and its plugins, loaded as classic scripts before our modules
      },
    },
    linterOptions: {reportUnusedDisableDirectives: "error"},
    rules: {
      // modules import each other as "gridmap/<path>" through the page's import map, never by relative path:
      // an exported page inlines each module as a data: URL, against which no relative path resolves
      "no-restricted-imports": ["error", {patterns: [{group: ["./*", "../*"],
        message: "import our modules as \"gridmap/<path under maps/static/js>\""}]}],
      "no-var": "error",
      "prefer-const": "error",
      "eqeqeq": ["error", "always"],
      "no-implicit-globals": "error",
      "no-shadow": "error",
      "no-unused-vars": ["error", {args: "after-used", caughtErrors: "none"}],
      "no-restricted-globals": ["error", {name: "gridmap", message: "import the module instead of the page global"}],
      "curly": ["error", "multi-line"],
      "max-lines-per-function": ["error", {max: 60, skipBlankLines: true, skipComments: true}],
      "complexity": ["error", 15],
    },
  },
];
