// The name/password forms of /console and /leader (#signin-form, #signup-form,
// #signout): one place for signing in, signing up and out, and their messages.
import { $, api, errorText, store, t, toast } from "./common.js";

/**
 * Wire the forms for accounts of `role`; the token is kept in localStorage
 * under `storeKey`. Returns the token already stored (or null).
 *   notRole       i18n key shown when the account has another role
 *   signupFields  (FormData) => extra sign-up fields (the 团长's invite_code)
 *   signupError   (err) => a page-specific message for a refused sign-up, or null
 *   onSignedIn    (token) => void
 *   onSignedOut   () => void
 */
export function setupSignIn({ role, storeKey, notRole, signupFields = () => ({}),
  signupError = () => null, onSignedIn, onSignedOut }) {
  const signedIn = (token) => { store.set(storeKey, token); onSignedIn(token); };
  $("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    try {
      const r = await api("POST", "/api/v1/sessions", { name: fd.get("name"), password: fd.get("password") });
      if (r.account.role !== role) { toast(t(notRole), "error"); return; }
      signedIn(r.token);
    } catch (err) { toast(err.status === 401 ? t("auth.wrong") : errorText(err), "error"); }
  });
  $("#signup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    try {
      const r = await api("POST", "/api/v1/accounts",
        { name: fd.get("name"), password: fd.get("password"), role, ...signupFields(fd) });
      signedIn(r.token);
    } catch (err) {
      toast(err.code === "conflict" ? t("auth.taken") : signupError(err) || errorText(err), "error");
    }
  });
  $("#signout").addEventListener("click", async () => {
    const token = store.get(storeKey);
    store.set(storeKey, null);
    // The token stops working on the server too (a shared computer, a lost
    // phone); before onSignedOut, which leaves the page and would cancel it.
    if (token) { try { await api("DELETE", "/api/v1/sessions", undefined, { token }); } catch (e) {} }
    onSignedOut();
  });
  return store.get(storeKey);
}
