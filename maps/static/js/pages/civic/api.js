// The civic staff desk's API calls: the page's short-lived bearer token (renewed from the sign-in cookie once
// when an answer says 401), JSON in and out, answers that never throw ({status, ok, body}).

import {errorMessage, jsonHeaders, requestJson} from "gridmap/shared/http.js";

const session = {token: "", tokenUrl: "", busy: 0};

/** Keep the page's token and where to renew it. */
export function useToken(token, tokenUrl) {
  session.token = token;
  session.tokenUrl = tokenUrl;
}

async function renew() {
  const answer = await requestJson(session.tokenUrl, {headers: {Accept: "application/json"}});
  if (answer.ok && answer.body && answer.body.access_token) session.token = answer.body.access_token;
  return answer.ok;
}

/** A call of our JSON API with the page's token; one renewal and retry on 401. */
export async function api(url, {method = "GET", body} = {}) {
  session.busy += 1;
  try {
    let answer = await requestJson(url, {method, body, headers: jsonHeaders(session.token)});
    if (answer.status === 401 && await renew()) {
      answer = await requestJson(url, {method, body, headers: jsonHeaders(session.token)});
    }
    return answer;
  } finally {
    session.busy -= 1;
  }
}

/** Requests still on their way (the browser tests wait for none). */
export function busy() {
  return session.busy;
}

/** Show an answer's outcome in a message element: the text when it went well, the error when not. */
export function say(element, answer, good) {
  element.classList.toggle("bad", !answer.ok);
  element.textContent = answer.ok ? good : "未成功：" + errorMessage(answer);
}
