// The workbench's calls to the JSON API: the page's bearer token (renewed from the sign-in cookie when it
// runs out), JSON in and out, a count of requests in flight (the browser tests wait for it to reach 0).

import {errorMessage, jsonHeaders, requestJson} from "gridmap/shared/http.js";

/** A query string of the non-empty values of ``params`` (arrays repeat the key). */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, String(one));
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

/**
 * The API client of the page: {get(path), post(path, body, headers), busy(), errorMessage}.
 * ``onSignedOut`` runs when neither the token nor the sign-in cookie is valid any more.
 */
export function makeApi(config, onSignedOut) {
  let token = config.token;
  let inFlight = 0;

  async function renew() {
    const answer = await requestJson(config.tokenUrl, {method: "GET"});
    if (answer.ok && answer.body && answer.body.access_token) {
      token = answer.body.access_token;
      return true;
    }
    return false;
  }

  async function call(method, path, body, extra) {
    inFlight += 1;
    try {
      let answer = await requestJson(path, {method, body, headers: jsonHeaders(token, extra)});
      if (answer.status === 401 && await renew()) {
        answer = await requestJson(path, {method, body, headers: jsonHeaders(token, extra)});
      }
      if (answer.status === 401) onSignedOut();
      return answer;
    } finally {
      inFlight -= 1;
    }
  }

  return {
    get: (path) => call("GET", path),
    post: (path, body, extra) => call("POST", path, body, extra),
    busy: () => inFlight,
    errorMessage,
  };
}
