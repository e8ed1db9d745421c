// Live alerts and broadcasts without reload (issue #10). No inline script (the CSP forbids them):
// the page says what to do in the data-* attributes of [data-live-alerts] (templates/alerts/_live.html).
//
// One WebSocket to /ws/live/?last_id=N. The server joins the groups the user's roles cover and
// replays the alerts raised after N; each message carries ids only, so the row (or broadcast) is
// fetched from a permission-checked page and put at the top of the list, with a flash and, once
// the user has turned sound on, a short beep (WebAudio: no sound file). Lost connections are
// retried with a growing delay (1 s doubling to 30 s, with jitter), always with the last alert id
// seen, so nothing raised meanwhile is missed.
(() => {
  "use strict";

  const root = document.querySelector("[data-live-alerts]");
  if (!root || !("WebSocket" in window)) return;

  const status = root.querySelector("[data-live-status]");
  const soundButton = root.querySelector("[data-live-sound]");
  const newBadge = root.querySelector("[data-live-new]");
  const MIN_DELAY = 1000;
  const MAX_DELAY = 30000;
  const SOUND_KEY = "live-alerts-sound";
  // Closed by the server for good: not signed in (4401), no alert role (4403).
  const REFUSED = new Set([4401, 4403]);

  let lastId = Number(root.dataset.lastId) || 0;
  let delay = MIN_DELAY;
  let queue = Promise.resolve();
  let audio = null;
  let soundOn = false;
  let unseen = 0;

  const setState = (state) => {
    root.dataset.state = state;
    const key = `text${state.charAt(0).toUpperCase()}${state.slice(1)}`;
    if (status && status.dataset[key]) status.textContent = status.dataset[key];
  };

  // --- Sound: browsers start audio only after a user gesture, so the button turns it on. ---------
  const showSound = () => {
    if (!soundButton) return;
    soundButton.setAttribute("aria-pressed", String(soundOn));
    soundButton.textContent = soundOn ? soundButton.dataset.textOn : soundButton.dataset.textOff;
  };
  const audioContext = () => {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    audio = audio || new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  };
  const beep = (severity) => {
    if (!soundOn) return;
    const ctx = audioContext();
    if (!ctx) return;
    const urgent = severity === "high" || severity === "critical";
    const start = ctx.currentTime;
    const tones = urgent ? [0, 0.22] : [0];
    tones.forEach((offset) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = urgent ? 988 : 784;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.2);
    });
  };
  if (soundButton) {
    try {
      soundOn = window.localStorage.getItem(SOUND_KEY) === "on";
    } catch (e) {
      soundOn = false;
    }
    showSound();
    soundButton.addEventListener("click", () => {
      soundOn = !soundOn;
      try {
        window.localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
      } catch (e) {
        // private mode: the choice lasts for this page only
      }
      if (soundOn) audioContext();
      showSound();
    });
    // A remembered "on" still needs one gesture on this page before audio may start.
    document.addEventListener("click", () => soundOn && audioContext(), { once: true });
  }

  // --- Rows ----------------------------------------------------------------------------------------
  const flash = (el) => {
    if (!el) return;
    el.classList.remove("live-flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("live-flash");
    el.addEventListener("animationend", () => el.classList.remove("live-flash"), { once: true });
  };
  const rowsBody = () => document.getElementById("alert-rows");
  const cardsList = () => document.querySelector("#alert-cards [data-testid=cards]");
  const findCard = (list, id) =>
    [...list.querySelectorAll("[data-testid=card]")].find(
      (li) => li.dataset.alertId === String(id) || li.querySelector(`a[href$="/alerts/${id}/"]`),
    );
  const onFirstPage = () => {
    const body = rowsBody();
    return !body || body.dataset.page === "1";
  };
  const countUnseen = () => {
    unseen += 1;
    if (!newBadge) return;
    newBadge.textContent = `${unseen} ${newBadge.dataset.text || ""}`;
    newBadge.classList.remove("d-none");
  };
  const withFilters = (url) => (root.dataset.filters ? `${url}?${root.dataset.filters}` : url);

  const showAlert = async (id) => {
    if (!root.dataset.rowUrl) return false;
    const response = await fetch(withFilters(root.dataset.rowUrl.replace(/\/0\/$/, `/${id}/`)), {
      credentials: "same-origin",
    });
    const body = rowsBody();
    const cards = cardsList();
    const oldRow = body && body.querySelector(`tr[data-alert-id="${id}"]`);
    const oldCard = cards && findCard(cards, id);
    if (response.status === 204) {
      // Not (or no longer) on this list, e.g. resolved on the "dispatched to me" page.
      if (oldRow) oldRow.remove();
      if (oldCard) oldCard.remove();
      return false;
    }
    if (!response.ok) return false;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const row = doc.querySelector("tr[data-alert-id]");
    const card = doc.querySelector("[data-testid=card]");
    if (card) card.dataset.alertId = String(id);
    if (!oldRow && !oldCard && !onFirstPage()) {
      countUnseen();
      return true;
    }
    if (body && row) {
      if (oldRow) oldRow.replaceWith(row);
      else {
        body.querySelectorAll("tr[data-empty]").forEach((el) => el.remove());
        body.prepend(row);
      }
      flash(row);
    }
    if (cards && card) {
      if (oldCard) oldCard.replaceWith(card);
      else {
        cards.querySelectorAll("li:not([data-testid=card])").forEach((el) => el.remove());
        cards.prepend(card);
      }
      flash(card);
    }
    return true;
  };

  const showBroadcast = async (id) => {
    const inbox = document.getElementById("broadcast-inbox");
    if (!inbox || !root.dataset.broadcastUrl) return false;
    if (inbox.querySelector(`[data-broadcast-id="${id}"]`)) return false;
    const url = `${root.dataset.broadcastUrl.replace(/\/0\/$/, `/${id}/`)}?fragment=1`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return false;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const card = doc.querySelector("[data-broadcast-id]");
    if (!card) return false;
    inbox.querySelectorAll("[data-empty]").forEach((el) => el.remove());
    inbox.prepend(card);
    flash(card);
    return true;
  };

  const handle = async (message) => {
    if (!message || typeof message.type !== "string" || !Number.isInteger(message.id)) return;
    if (["alert.raised", "alert.folded", "alert.updated"].includes(message.type)) {
      lastId = Math.max(lastId, message.id);
      const shown = await showAlert(message.id);
      if (shown && message.type !== "alert.updated") beep(message.severity);
    } else if (message.type === "broadcast.sent") {
      if (await showBroadcast(message.id)) beep("high");
    }
  };

  // --- The connection -------------------------------------------------------------------------------
  const connect = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.wsPath}?last_id=${lastId}`);
    setState("connecting");
    socket.addEventListener("open", () => {
      delay = MIN_DELAY;
      setState("open");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      // One after another: a folded alert's update never overtakes its row.
      queue = queue.then(() => handle(message)).catch(() => undefined);
    });
    socket.addEventListener("close", (event) => {
      if (REFUSED.has(event.code)) {
        setState("refused");
        return;
      }
      setState("closed");
      const wait = delay + Math.random() * delay * 0.3;
      delay = Math.min(delay * 2, MAX_DELAY);
      window.setTimeout(connect, wait);
    });
  };

  // The panel's filters change the list (htmx swaps #results): new rows follow the same filters.
  document.addEventListener("htmx:afterSwap", (event) => {
    const form = document.querySelector("form[data-alert-filters]");
    if (!form || !event.detail || !event.detail.target || event.detail.target.id !== "results") return;
    const params = new URLSearchParams();
    new FormData(form).forEach((value, key) => {
      if (value !== "") params.append(key, value);
    });
    root.dataset.filters = params.toString();
  });

  connect();
})();
