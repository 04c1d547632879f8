// Sign-in: trade the reviewer token for a session cookie, then go to the review page.
"use strict";

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    await api.call("POST", "/api/session", { token: document.getElementById("token").value.trim() });
    window.location.assign("/");
  } catch (e) {
    error.textContent = e.message;
  }
});
