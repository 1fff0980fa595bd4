// The Activity Explorer's view state <-> URL, with no DOM: loaded by the page before explorer.js, and
// by tests/explorer/test_url_state.py under Node (module.exports at the end).
"use strict";

const ExplorerState = (() => {
  const DEFAULT_SORT = [{ column: "started_event", direction: "desc" }];
  const PAGE_SIZES = [25, 50, 100, 250];

  // A session is (organization, journey_id): session ids are unique only within an organization, so a
  // link to one carries both (a bare id, as older links had, could name another organization's session).
  function sessionKey(value) {
    if (!value || typeof value !== "object") return null;
    const { organization, journey_id: journeyId } = value;
    return typeof organization === "string" && typeof journeyId === "string"
      ? { organization, journey_id: journeyId } : null;
  }

  // The state a URL hash holds; whatever is missing or malformed takes its default (range null: the
  // page then picks the last 24 hours of data). The API validates filters and sort again.
  function fromHash(hash) {
    let parsed = {};
    try {
      const raw = decodeURIComponent(String(hash || "").replace(/^#/, ""));
      parsed = raw ? JSON.parse(raw) : {};
    } catch (error) {
      parsed = {};
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) parsed = {};
    return {
      filters: Array.isArray(parsed.filters) ? parsed.filters : [],
      sort: Array.isArray(parsed.sort) && parsed.sort.length ? parsed.sort : DEFAULT_SORT,
      page: Number.isInteger(parsed.page) && parsed.page > 0 ? parsed.page : 1,
      page_size: PAGE_SIZES.includes(parsed.page_size) ? parsed.page_size : 50,
      range: parsed.range && typeof parsed.range === "object" && !Array.isArray(parsed.range) ? parsed.range : null,
      session: sessionKey(parsed.session),
    };
  }

  function toHash(state) { return `#${encodeURIComponent(JSON.stringify(state))}`; }

  // Airflow (3.3.2+) shows the page in an iframe at <base>/plugin/<url_route> and rebuilds the frame's
  // URL from what follows it: <base>/plugin/<url_route><frame path><frame query><frame hash>. The path
  // of the Airflow page that shows the frame's location, or null when the parent is not a plugin page.
  function airflowPath(parentPath, framePath, frameSearch, frameHash) {
    const at = parentPath.indexOf("/plugin/");
    if (at < 0) return null;
    const route = parentPath.slice(at + "/plugin/".length).split("/")[0];
    if (!route) return null;
    return `${parentPath.slice(0, at)}/plugin/${route}${framePath}${frameSearch || ""}${frameHash || ""}`;
  }

  return { DEFAULT_SORT, sessionKey, fromHash, toHash, airflowPath };
})();

if (typeof module !== "undefined") module.exports = ExplorerState;
