// Shared by the pages: JSON calls to the API, with the CSRF token on every change.
"use strict";

const api = {
  csrf: null,

  async call(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && api.csrf) headers["X-CSRF-Token"] = api.csrf;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && path !== "/api/session") {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`);
    return data;
  },

  async me() {
    const me = await api.call("GET", "/api/me");
    api.csrf = me.csrf;
    return me;
  },
};

function signOutButton(id) {
  document.getElementById(id).addEventListener("click", async () => {
    await api.call("DELETE", "/api/session");
    window.location.assign("/login");
  });
}
