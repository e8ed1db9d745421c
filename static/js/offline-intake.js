// The offline case intake (issue #11 part 5). Enhances the intake form of
// templates/mediation/case_new.html (form#case-intake, data-api = the cases API) and shows what
// is still waiting in templates/mediation/_offline_queue.html.
//
// A case is written to IndexedDB first, then sent as the API's JSON. The send happens once per
// trigger — the submit, the page load, the browser's "online" event — and never twice at the
// same time for one draft; the draft's client_key makes the server register it once however
// often it arrives (a lost answer followed by a resend gives back the same case). A 2xx
// removes the draft; no answer keeps it waiting; a 4xx keeps it with the server's errors so
// the officer can correct it. No timers, no inline script (CSP).
(() => {
  const DB_NAME = "mediation-offline";
  const DRAFTS = "drafts"; // keyPath client_key: {client_key, api, page, user, body, parties, status, errors, saved_at}
  const KEYS = "used-keys"; // keyPath key: every client_key a draft has carried (a cached page repeats its key)
  const KEY_DAYS = 60;
  const sending = new Set();

  const queue = document.getElementById("offline-queue");
  const sentNote = document.getElementById("offline-sent");
  const form = document.getElementById("case-intake");
  if (!queue || !("indexedDB" in window)) return;
  const msg = (name, values = {}) =>
    (queue.dataset[`msg${name}`] || name).replace(/%\((\w+)\)s/g, (_m, key) => String(values[key] ?? ""));
  const userEl = document.querySelector("[data-testid=username]");
  const user = userEl ? userEl.textContent.trim() : "";

  // --- IndexedDB, promisified -------------------------------------------------------------------
  let dbPromise = null;
  const openDb = () => {
    dbPromise =
      dbPromise ||
      new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          request.result.createObjectStore(DRAFTS, { keyPath: "client_key" });
          request.result.createObjectStore(KEYS, { keyPath: "key" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    return dbPromise;
  };
  const run = async (store, mode, work) => {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = work(tx.objectStore(store));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  const allDrafts = () => run(DRAFTS, "readonly", (s) => s.getAll());
  const getDraft = (key) => run(DRAFTS, "readonly", (s) => s.get(key));
  const putDraft = (draft) => run(DRAFTS, "readwrite", (s) => s.put(draft));
  const deleteDraft = (key) => run(DRAFTS, "readwrite", (s) => s.delete(key));
  const keyUsed = (key) => run(KEYS, "readonly", (s) => s.get(key)).then(Boolean);
  const rememberKey = (key) => run(KEYS, "readwrite", (s) => s.put({ key, at: Date.now() }));
  const forgetOldKeys = () =>
    run(KEYS, "readwrite", (s) => {
      const oldest = Date.now() - KEY_DAYS * 86400000;
      const cursor = s.openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return;
        if (c.value.at < oldest) c.delete();
        c.continue();
      };
      return null;
    });

  const newKey = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  // --- The form as the API's JSON (the contract in mediation/serializers.py) ------------------
  const value = (name) => {
    const el = form.elements.namedItem(name);
    return el && "value" in el ? el.value.trim() : "";
  };
  const buildBody = () => {
    const parties = [];
    const indexes = [];
    form.querySelectorAll("[data-party]").forEach((fieldset) => {
      const n = fieldset.dataset.party;
      const field = (name) => value(`parties-${n}-${name}`);
      const party = {
        role: field("role") || "other",
        name: field("name"),
        person_id: field("person_id") ? Number(field("person_id")) : null,
        id_number: field("id_number"),
        phone: field("phone"),
        home_province: field("home_province"),
      };
      if (party.name || party.person_id || party.id_number || party.phone || party.home_province) {
        parties.push(party);
        indexes.push(n);
      }
    });
    const body = {
      client_key: value("client_key"),
      source: value("source"),
      category: value("category"),
      title: value("title"),
      description: value("description"),
      risk: value("risk"),
      risk_reasons: [...form.querySelectorAll("input[name=risk_reasons]:checked")].map((el) => el.value),
      place: value("place"),
      amount: value("amount") || null,
      occurred_on: value("occurred_on") || null,
      parties,
    };
    if (value("requested_mediator")) body.requested_mediator = Number(value("requested_mediator"));
    return { body, indexes };
  };

  // A refused draft back into the form, to be corrected (same client_key: it made no case).
  const fillForm = async (draft) => {
    const body = draft.body;
    const set = (name, v) => {
      const el = form.elements.namedItem(name);
      if (el && "value" in el) el.value = v == null ? "" : String(v);
    };
    ["client_key", "source", "category", "title", "description", "risk", "place", "amount", "occurred_on"].forEach(
      (name) => set(name, body[name]),
    );
    set("requested_mediator", body.requested_mediator);
    form.querySelectorAll("input[name=risk_reasons]").forEach((el) => {
      el.checked = body.risk_reasons.includes(el.value);
    });
    const add = document.querySelector("[data-add-party]");
    while (form.querySelectorAll("[data-party]").length < body.parties.length && add && !add.disabled) add.click();
    const fieldsets = [...form.querySelectorAll("[data-party]")];
    const indexes = [];
    fieldsets.forEach((fieldset, i) => {
      const n = fieldset.dataset.party;
      const party = body.parties[i] || { role: "", name: "", person_id: null, id_number: "", phone: "", home_province: "" };
      ["role", "name", "person_id", "id_number", "phone", "home_province"].forEach((name) => {
        if (name !== "role" || party.role) set(`parties-${n}-${name}`, party[name]);
      });
      if (i < body.parties.length) indexes.push(n);
    });
    form.dataset.editing = draft.client_key;
    showErrors(draft.errors, indexes);
    form.scrollIntoView();
  };

  // --- Errors of a 4xx next to their fields ---------------------------------------------------
  const clearErrors = () => {
    form.querySelectorAll("[data-offline-error]").forEach((el) => el.remove());
    form.querySelectorAll(".is-invalid").forEach((el) => el.classList.remove("is-invalid"));
  };
  const asText = (errors) => (Array.isArray(errors) ? errors.filter((e) => typeof e === "string").join(" ") : String(errors));
  const markField = (name, text) => {
    const el = form.elements.namedItem(name);
    const target = el && (el.length && !el.tagName ? el[0] : el);
    if (!target || !target.insertAdjacentElement || target.type === "hidden") return false;
    target.classList.add("is-invalid");
    const note = document.createElement("div");
    note.className = "invalid-feedback d-block";
    note.dataset.offlineError = "";
    note.textContent = text;
    (target.closest(".form-check") || target).insertAdjacentElement("afterend", note);
    return true;
  };
  const showErrors = (errors, indexes) => {
    if (!form) return;
    clearErrors();
    if (!errors) return;
    const loose = [];
    Object.entries(errors).forEach(([field, problems]) => {
      if (field === "parties" && Array.isArray(problems) && problems.some((p) => p && typeof p === "object")) {
        problems.forEach((partyErrors, i) => {
          if (!partyErrors || typeof partyErrors !== "object") return;
          Object.entries(partyErrors).forEach(([name, text]) => {
            if (!markField(`parties-${indexes[i]}-${name}`, asText(text))) loose.push(asText(text));
          });
        });
      } else if (!markField(field, asText(problems))) {
        loose.push(asText(problems));
      }
    });
    const box = document.createElement("div");
    box.className = "alert alert-danger py-2";
    box.setAttribute("role", "alert");
    box.dataset.offlineError = "";
    box.dataset.testid = "offline-errors";
    box.textContent = [msg("Errors"), ...loose].join(" ");
    form.prepend(box);
  };

  // --- Sending --------------------------------------------------------------------------------
  const pageToken = () => {
    const meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  };
  // The CSRF cookie is hidden from scripts (CSRF_COOKIE_HTTPONLY): a stale token (a page kept from
  // an earlier sign-in) is renewed from a fresh copy of the draft's intake page.
  const freshToken = async (draft) => {
    const response = await fetch(draft.page, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok || response.redirected) return "";
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    const meta = html.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  };
  const post = (draft, token) =>
    fetch(draft.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
      body: JSON.stringify(draft.body),
    });

  // One attempt for one draft: "sent" (and gone), "waiting" (no answer), "refused" or "signin".
  const send = async (draft, { onForm = false } = {}) => {
    if (sending.has(draft.client_key)) return "busy";
    sending.add(draft.client_key);
    try {
      let response;
      try {
        response = await post(draft, pageToken());
        if (response.status === 403) {
          const token = await freshToken(draft);
          if (token) response = await post(draft, token);
        }
      } catch (error) {
        return "waiting"; // no connection: the draft stays as it is
      }
      if (response.status === 200 || response.status === 201) {
        const answer = await response.json();
        await deleteDraft(draft.client_key);
        if (onForm && answer.url) {
          window.location.assign(answer.url);
        } else if (sentNote) {
          sentNote.textContent = "";
          const link = document.createElement("a");
          link.href = answer.url;
          link.textContent = msg("Sent", { number: answer.number });
          sentNote.append(link);
          sentNote.hidden = false;
        }
        return "sent";
      }
      if (response.status >= 500) return "waiting"; // the server will be asked again next time
      let errors = {};
      try {
        errors = await response.json();
      } catch (error) {
        errors = { detail: [response.statusText] };
      }
      const status = response.status === 403 ? "signin" : "refused";
      await putDraft({ ...draft, status, errors });
      if (onForm) showErrors(errors, draft.parties);
      return status;
    } finally {
      sending.delete(draft.client_key);
    }
  };

  // Every waiting draft of this user, once each (page load, "online").
  const flush = async () => {
    if (!user) return;
    const drafts = (await allDrafts()).filter((d) => d.user === user && d.status !== "refused");
    for (const draft of drafts) await send(draft);
    await render();
  };

  // --- The "waiting to send" list -------------------------------------------------------------
  const render = async () => {
    const drafts = (await allDrafts()).filter((d) => d.user === user).sort((a, b) => a.saved_at - b.saved_at);
    const list = queue.querySelector("[data-queue-list]");
    list.textContent = "";
    queue.hidden = drafts.length === 0;
    queue.querySelector("[data-queue-title]").textContent = msg("Waiting", { n: drafts.length });
    drafts.forEach((draft) => {
      const item = document.createElement("li");
      item.className = "d-flex flex-wrap align-items-center gap-2 py-1 border-top";
      item.dataset.testid = "offline-draft";
      item.dataset.key = draft.client_key;
      const title = document.createElement("span");
      title.className = "me-auto";
      title.textContent = `${draft.body.title || msg("Untitled")} · ${new Date(draft.saved_at).toLocaleString()}`;
      const state = document.createElement("span");
      state.className = `small ${draft.status === "waiting" ? "text-muted" : "text-danger"}`;
      state.dataset.testid = "offline-draft-status";
      state.textContent = { waiting: msg("Offline"), refused: msg("Refused"), signin: msg("Signin") }[draft.status] || "";
      item.append(title, state);
      if (draft.status === "refused") {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.className = "btn btn-sm btn-outline-primary";
        edit.textContent = msg("Edit");
        edit.addEventListener("click", () => {
          if (form && form.dataset.api === draft.api) fillForm(draft);
          else window.location.assign(`${draft.page}#draft=${encodeURIComponent(draft.client_key)}`);
        });
        item.append(edit);
      }
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "btn btn-sm btn-outline-danger";
      discard.textContent = msg("Discard");
      discard.addEventListener("click", async () => {
        if (!window.confirm(msg("ConfirmDiscard"))) return;
        await deleteDraft(draft.client_key);
        await render();
      });
      item.append(discard);
      list.append(item);
    });
  };

  // --- The intake form ------------------------------------------------------------------------
  const onSubmit = async (event) => {
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    try {
      const { body, indexes } = buildBody();
      const editing = form.dataset.editing;
      // A key a draft already carried (a kept page is shown again with the same key) gets a new one.
      if (!editing || editing !== body.client_key) {
        if (!body.client_key || (await keyUsed(body.client_key))) body.client_key = newKey();
      }
      const input = form.elements.namedItem("client_key");
      if (input) input.value = body.client_key;
      const draft = {
        client_key: body.client_key,
        api: form.dataset.api,
        page: window.location.pathname,
        user,
        body,
        parties: indexes,
        status: "waiting",
        errors: null,
        saved_at: Date.now(),
      };
      await rememberKey(draft.client_key);
      await putDraft(draft);
      clearErrors();
      const outcome = await send(draft, { onForm: true });
      if (outcome === "sent") return;
      if (outcome === "waiting") {
        // Kept: the form is cleared for the next case, with a key of its own.
        delete form.dataset.editing;
        form.reset();
        if (input) input.value = newKey();
        queue.scrollIntoView();
      } else {
        form.dataset.editing = draft.client_key; // refused: corrected and sent again under its key
      }
      await render();
    } finally {
      if (submit) submit.disabled = false;
    }
  };

  document.addEventListener("DOMContentLoaded", async () => {
    if (form) {
      form.before(queue);
      if (sentNote) form.before(sentNote);
      form.addEventListener("submit", onSubmit);
      const wanted = new URLSearchParams(window.location.hash.slice(1)).get("draft");
      if (wanted) {
        const draft = await getDraft(wanted);
        if (draft && draft.user === user) fillForm(draft);
      }
    }
    await render();
    forgetOldKeys().catch(() => undefined);
    if (navigator.onLine) await flush();
  });
  window.addEventListener("online", () => flush());
})();
