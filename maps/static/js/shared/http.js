// Talking to our own API from a page: the bearer token, JSON requests that never throw, error messages.
//
// The sign-in cookie is HttpOnly; pages that call the JSON API get a short-lived token in their options, or
// find one in sessionStorage (set by a page that signed in).

/** The bearer token to send: the page's own, else one kept in sessionStorage, else "". */
export function bearerToken(pageToken) {
  if (pageToken) return pageToken;
  try {
    return window.sessionStorage.getItem("gridmap_token") || "";
  } catch {
    return "";
  }
}

/** JSON request headers with the bearer token (when there is one) and any extra headers. */
export function jsonHeaders(token, extra = {}) {
  const headers = {"Content-Type": "application/json", "Accept": "application/json", ...extra};
  if (token) headers.Authorization = "Bearer " + token;
  return headers;
}

/**
 * A JSON request that always resolves: {status, ok, body} (status 0 when the network failed).
 * options: {method, body (sent as JSON), headers}.
 */
export async function requestJson(url, {method = "GET", body, headers} = {}) {
  try {
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return {status: response.status, ok: response.ok, body: parsed};
  } catch (err) {
    return {status: 0, ok: false, body: {error: {message: String(err)}}};
  }
}

/** The message of an error answer (our API's {error: {message}}), else "HTTP <status>". */
export function errorMessage(result) {
  return (result.body && result.body.error && result.body.error.message) || "HTTP " + result.status;
}

/** GET a JSON document of our own server; rejects with "HTTP <status>" on an error status. */
export async function getJson(url) {
  const response = await fetch(url, {credentials: "same-origin"});
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}
