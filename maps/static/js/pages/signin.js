// 工作人员登录页 (/maps/signin): sign in with /api/v1/auth/token, hand the token to POST /maps/session (which
// keeps it in an HttpOnly cookie for the staff maps and their tiles), then go on to the page asked for.

import {errorMessage, requestJson} from "gridmap/shared/http.js";

async function signIn(form) {
  const answer = await fetch("/api/v1/auth/token", {method: "POST", body: new URLSearchParams(new FormData(form))});
  const body = await answer.json();
  if (!answer.ok) throw new Error((body.error && body.error.message) || "登录失败");
  const session = await requestJson("/maps/session", {method: "POST",
    headers: {Authorization: "Bearer " + body.access_token}});
  if (!session.ok) throw new Error(session.body && session.body.error ? errorMessage(session) : "登录失败");
}

/** Wire the sign-in form; ``next`` is where to go after (checked by the server to be a /maps/ page). */
export function start(form, message, next) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.textContent = "";
    signIn(form).then(() => window.location.replace(next)).catch((err) => { message.textContent = err.message; });
  });
}

const signInForm = document.getElementById("f");
if (signInForm) start(signInForm, document.getElementById("msg"), document.body.dataset.next);
