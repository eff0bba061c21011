/*
 * Candor chat widget. A brand embeds it with one tag and no build step:
 *
 *   <script src="https://HOST/widget.js" data-brand="BRAND" async></script>
 *
 * Hidden fields: data-field-NAME="value" attributes and the page's query parameters are sent
 * with the hello; the gateway keeps only the fields the brand's flow declares, and only once the
 * customer consents to their purpose (docs/flows.md, "Hidden fields").
 * Optional: data-open="true" opens the chat on load; data-mode="inline" renders the chat in
 * place of the script tag instead of the bubble (data-height="30rem" sets its height), and
 * data-mode="page" fills the page (the hosted survey, /s/BRAND). The look (name, logo, colours,
 * font, launcher text) comes from the brand's widget-config on every load. A draft preview page
 * (/preview/BRAND/VERSION) adds data-preview-version and data-preview-token: it then talks to
 * the preview endpoint over HTTP instead of the socket, keeps nothing in the browser's storage,
 * and says on screen that nothing is stored. Plain ES2020, no dependencies. It renders
 * in a shadow root, so the page's CSS and the widget's cannot clash. The customer's random id
 * stays in localStorage; the transcript and unsent messages stay in sessionStorage, so a reload
 * restores the conversation. Protocol: bot/channels/web.py.
 *
 * Turn order: every message carries a fresh id (reused only to resend that message after a
 * reconnect or a "restarting" error, so the gateway answers it once) and, as reply_to, the
 * token of the question the customer was answering: the question of the message whose button
 * was pressed, or else the last question on screen when they typed. A message typed while the
 * bot is still answering keeps the token from before, so it is never filed under a question
 * the customer had not seen yet.
 */
(() => {
  "use strict";
  const script =
    document.currentScript || document.querySelector('script[data-brand][src*="widget.js"]');
  if (!script || !script.dataset.brand || window.__candorWidget) return;
  window.__candorWidget = true;

  const brand = script.dataset.brand;
  const origin = new URL(script.src, location.href).origin;
  const mode = ["inline", "page"].includes(script.dataset.mode) ? script.dataset.mode : "bubble";
  const preview = script.dataset.previewToken
    ? { version: script.dataset.previewVersion, token: script.dataset.previewToken, state: null }
    : null;
  const key = (name) => `candor:${brand}:${name}`;
  // The widget's own words: English defaults, replaced by the widget config's `words` in the
  // chat's language (bot/channels/widget_words.py, from the gettext catalogs).
  const WORDS = {
    privacy: "Privacy",
    close: "Close chat",
    preview: "Preview: nothing is stored",
    conversation: "Conversation",
    typing: "The assistant is typing",
    your_message: "Your message",
    placeholder: "Type a message",
    send: "Send",
    show_my_data: "What do you know about me?",
    withdraw: "Withdraw consent",
    forget_me: "Forget me",
    download_data: "Download all your data (JSON)",
    download_receipts: "Download your consent receipts (JSON)",
    assistant: "Assistant",
    you: "You",
    notice: "Notice",
    answer_options: "Answer options",
    restarting: "The assistant is restarting; your message is kept and resent soon.",
    unavailable: "This chat is not available here.",
    reconnecting: "Connection lost; reconnecting…",
  };
  const PRIVACY = [
    ["show_my_data", "/show_my_data"],
    ["withdraw", "/withdraw_consent"],
    ["forget_me", "/forget_me"],
  ];

  // --- storage (a blocked storage falls back to memory) --------------------------------------
  const memory = {};
  function load(area, name, fallback) {
    if (preview) return name in memory ? memory[name] : fallback; // a preview keeps nothing
    try {
      const raw = window[area].getItem(key(name));
      return raw === null ? fallback : JSON.parse(raw);
    } catch (_) {
      return name in memory ? memory[name] : fallback;
    }
  }
  function save(area, name, value) {
    memory[name] = value;
    if (preview) return;
    try {
      window[area].setItem(key(name), JSON.stringify(value));
    } catch (_) {
      /* private mode or quota: memory only */
    }
  }
  function randomId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let userId = load("localStorage", "user", null);
  if (!userId) {
    userId = randomId();
    save("localStorage", "user", userId);
  }
  const transcript = load("sessionStorage", "log", []);
  const outbox = load("sessionStorage", "outbox", []);
  // The token of the last question on screen (null: none), sent back as reply_to.
  let question = load("sessionStorage", "question", null);
  // reply_to while the bot is still answering and no question is on screen: a token no
  // question has (bot.channels.turns.NOT_SEEN).
  const NOT_SEEN = "-";
  const persist = () => {
    save("sessionStorage", "log", transcript);
    save("sessionStorage", "outbox", outbox);
    save("sessionStorage", "question", question);
  };

  // --- markup --------------------------------------------------------------------------------
  const host = document.createElement("div");
  host.id = "candor-widget";
  host.dataset.brand = brand;
  host.className = mode;
  if (mode === "inline") {
    script.insertAdjacentElement("beforebegin", host);
    if (script.dataset.height) host.style.setProperty("--h", script.dataset.height);
  } else {
    document.body.appendChild(host);
  }
  const root = host.attachShadow({ mode: "open" });
  // The style is a file (widget.css), so no page needs 'unsafe-inline' styles in its CSP. The
  // widget stays hidden until it is loaded, rather than flash unstyled.
  host.style.display = "none";
  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = `${origin}/widget.css`;
  const reveal = () => host.style.removeProperty("display");
  sheet.addEventListener("load", reveal);
  sheet.addEventListener("error", reveal);
  root.innerHTML = `
<button class="launcher" type="button" aria-expanded="false" aria-controls="panel">
  <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="currentColor">
    <path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/>
  </svg> <span class="launch-title">Chat</span></button>
<section class="panel" id="panel" role="dialog" aria-modal="false" aria-labelledby="title" hidden>
  <header>
    <img class="logo" alt="" width="28" height="28" hidden>
    <h2 id="title">Chat</h2>
    <div class="menuwrap">
      <button class="privacy" type="button" aria-haspopup="menu" aria-expanded="false"
              aria-controls="menu">Privacy</button>
      <ul id="menu" role="menu" aria-label="Privacy" hidden></ul>
    </div>
    <button class="close" type="button" aria-label="Close chat">&#x2715;</button>
  </header>
  <p class="preview-note" role="note" hidden>Preview: nothing is stored</p>
  <div class="log" role="log" aria-live="polite" aria-relevant="additions" aria-label="Conversation"
       tabindex="0"></div>
  <div class="typing" role="status" hidden><span class="dots" aria-hidden="true"></span>
    <span class="sr">The assistant is typing</span></div>
  <p class="status" role="status" aria-live="polite"></p>
  <form class="compose">
    <label for="input" class="sr">Your message</label>
    <input id="input" autocomplete="off" maxlength="2000" placeholder="Type a message"
           enterkeyhint="send">
    <button type="submit">Send</button>
  </form>
</section>`;
  root.prepend(sheet);
  const $ = (selector) => root.querySelector(selector);
  const launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), input = $("#input");
  const typing = $(".typing"), status = $(".status"), menu = $("#menu"), privacy = $(".privacy");

  for (const [word, payload] of PRIVACY) {
    const item = document.createElement("li");
    item.setAttribute("role", "none");
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "menuitem");
    button.tabIndex = -1;
    button.dataset.word = word;
    button.textContent = WORDS[word];
    button.addEventListener("click", () => {
      closeMenu(false);
      enqueue({ payload }, WORDS[word]);
      input.focus();
    });
    item.appendChild(button);
    menu.appendChild(item);
  }
  const menuItems = () => Array.from(menu.querySelectorAll("[role=menuitem]"));

  // --- words ---------------------------------------------------------------------------------
  function applyWords(words) {
    for (const [word, text] of Object.entries(words || {})) {
      if (word in WORDS && typeof text === "string" && text) WORDS[word] = text;
    }
    const label = (selector, attribute, word) => {
      const element = $(selector);
      if (!element) return;
      if (attribute) element.setAttribute(attribute, WORDS[word]);
      else element.textContent = WORDS[word];
    };
    label(".privacy", null, "privacy");
    label("#menu", "aria-label", "privacy");
    label(".close", "aria-label", "close");
    label(".preview-note", null, "preview");
    label(".log", "aria-label", "conversation");
    label(".typing .sr", null, "typing");
    label("label[for=input]", null, "your_message");
    label("#input", "placeholder", "placeholder");
    label(".compose button[type=submit]", null, "send");
    for (const button of menuItems()) button.textContent = WORDS[button.dataset.word];
    redraw(); // the transcript's spoken labels ("Assistant:") and download links
  }

  // --- theme ---------------------------------------------------------------------------------
  function onColour(hex) {
    const h = hex.length === 4 ? hex.replace(/\w/g, (c) => c + c).slice(1) : hex.slice(1);
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
    const lin = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b) > 0.4 ? "#000" : "#fff";
  }
  function applyTheme(config) {
    host.style.setProperty("--p", config.primary);
    host.style.setProperty("--on-p", config.on_primary || onColour(config.primary));
    host.style.setProperty("--bg", config.background);
    host.style.setProperty("--fg", config.text);
    if (config.font) host.style.setProperty("--font", config.font);
    $("#title").textContent = config.title;
    $(".launch-title").textContent = config.launcher || config.title;
    const logo = $(".logo");
    if (config.logo && /^https:\/\//.test(config.logo)) {
      logo.src = config.logo;
      logo.hidden = false;
    }
  }

  // --- transcript ----------------------------------------------------------------------------
  const clock = (iso) =>
    new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  // The links the bot sends to the customer's own data (bot/gateway/routes/selfservice.py),
  // by path, with the words the link shows instead of a long signed address.
  const DOWNLOADS = new Map([
    ["/api/v1/me/export", "download_data"],
    ["/api/v1/me/receipts", "download_receipts"],
  ]);
  // A bot message that ends with a link to the customer's own data, on this widget's own
  // gateway, shows it as a real download link. Anything else stays text: a customer's words
  // (echoed in "show my data") never become a link, since the bot's link always ends its
  // message and an echo never does.
  function withLinks(text) {
    const found = /(https?:\/\/\S+)$/.exec(text);
    if (!found) return [text];
    let url;
    try {
      url = new URL(found[1]);
    } catch (_) {
      return [text];
    }
    const words = WORDS[DOWNLOADS.get(url.pathname)];
    if (url.origin !== origin || !words || !url.searchParams.get("token")) return [text];
    const link = document.createElement("a");
    link.className = "download";
    link.href = url.href;
    link.setAttribute("download", ""); // the gateway names the file (Content-Disposition)
    link.rel = "noopener";
    link.textContent = words;
    return [text.slice(0, found.index), link];
  }

  function render(entry, index) {
    const box = document.createElement("div");
    box.className = `msg ${entry.who}`;
    const who = WORDS[{ bot: "assistant", me: "you", note: "notice" }[entry.who]];
    const text = document.createElement("p");
    const label = document.createElement("span");
    label.className = "sr";
    label.textContent = `${who}: `;
    text.append(label, ...(entry.who === "bot" ? withLinks(entry.text || "") : [entry.text]));
    box.appendChild(text);
    if (entry.buttons && entry.buttons.length) {
      const group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", WORDS.answer_options);
      entry.buttons.forEach((b, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = b.title;
        button.disabled = entry.done === true;
        if (entry.chosen === i) button.setAttribute("aria-pressed", "true");
        button.addEventListener("click", () => choose(index, i));
        group.appendChild(button);
      });
      box.appendChild(group);
    }
    if (entry.ts) {
      const time = document.createElement("time");
      time.dateTime = entry.ts;
      time.textContent = clock(entry.ts);
      box.appendChild(time);
    }
    return box;
  }
  function redraw() {
    log.replaceChildren(...transcript.map(render));
    log.scrollTop = log.scrollHeight;
  }
  function add(entry) {
    transcript.push(entry);
    persist();
    log.appendChild(render(entry, transcript.length - 1));
    log.scrollTop = log.scrollHeight;
  }
  function settleButtons(chosenIndex, chosen) {
    transcript.forEach((entry, i) => {
      if (entry.buttons && entry.buttons.length && !entry.done) {
        entry.done = true;
        if (i === chosenIndex) entry.chosen = chosen;
      }
    });
  }
  function choose(index, i) {
    const entry = transcript[index];
    if (!entry || entry.done) return;
    settleButtons(index, i);
    redraw();
    enqueue({ payload: entry.buttons[i].payload }, entry.buttons[i].title, true, entry.question);
  }

  // --- outbox and socket ---------------------------------------------------------------------
  // The customer's language: the script's data-lang, else the page's <html lang>, else the
  // browser's. The conversation is held in it when the flow offers it, and updates they may
  // follow use it. Candor's own hosted page (mode "page") says the brand's default in
  // <html lang>, which is no choice of the customer's, so there the browser's language counts.
  function customerLanguage() {
    return (
      script.dataset.lang ||
      (mode !== "page" && document.documentElement.lang) ||
      navigator.language ||
      ""
    );
  }
  let socket = null, ready = false, attempt = 0, config = null, retryTimer = null;
  let inFlight = null, focusAfter = null; // where focus goes when the reply comes
  function enqueue(body, shown, viaButton = false, pressed = null) {
    // Only a customer's own action moves focus; the automatic greeting never takes it.
    focusAfter = shown === null ? null : viaButton ? "choice" : "input";
    // Decided now, when the customer acts, not when the message leaves the outbox: what they
    // were answering is what was on screen at this moment.
    const replyTo = pressed || question || (outbox.length ? NOT_SEEN : null);
    if (shown !== null) {
      settleButtons(-1, null);
      redraw();
      add({ who: "me", text: shown, ts: new Date().toISOString() });
    }
    const message = { id: randomId().replace(/-/g, ""), ...body };
    if (replyTo) message.reply_to = replyTo;
    outbox.push(message);
    persist();
    flush();
  }
  function flush() {
    typing.hidden = outbox.length === 0;
    if (idle && outbox.length) {
      // The gateway closed a quiet socket (4000): open a new one now that there is something
      // to say, not before, so an open tab does not hold a socket it does not use.
      idle = false;
      connect();
      return;
    }
    if (!ready || outbox.length === 0) return;
    const head = outbox[0];
    if (inFlight && inFlight.id === head.id && inFlight.socket === socket) return;
    inFlight = { id: head.id, socket };
    if (preview) {
      sendPreview(head);
      return;
    }
    const frame = { type: "message", id: head.id };
    if (head.payload !== undefined) frame.payload = head.payload;
    else frame.text = head.text;
    if (head.reply_to) frame.reply_to = head.reply_to;
    socket.send(JSON.stringify(frame));
  }
  function settleHead(id) {
    if (outbox.length && outbox[0].id === id) outbox.shift();
    inFlight = null;
    persist();
    typing.hidden = outbox.length === 0;
  }
  function onFrame(frame) {
    if (frame.type === "ready") {
      ready = true;
      attempt = 0;
      status.textContent = "";
      if (transcript.length === 0 && outbox.length === 0) enqueue({ payload: "/greet" }, null);
      flush();
    } else if (frame.type === "reply") {
      // The question now on screen: the one this reply asks, or none if it asks nothing.
      question = null;
      for (const m of frame.messages) {
        if (m.question) question = m.question;
      }
      settleHead(frame.id);
      for (const m of frame.messages) {
        const entry = { who: "bot", text: m.text, buttons: m.buttons || [], ts: frame.ts };
        if (m.question) entry.question = m.question;
        add(entry);
      }
      const choices = log.querySelectorAll(".msg:last-child .choice:not([disabled])");
      if (!panel.hidden && focusAfter === "choice" && choices.length) choices[0].focus();
      else if (!panel.hidden && focusAfter) input.focus();
      focusAfter = null;
      flush();
    } else if (frame.type === "updates") {
      // Updates from the brand the customer follows, waiting since their last visit.
      for (const m of frame.messages) {
        add({ who: "bot", text: m.text, buttons: m.buttons || [], ts: frame.ts, update: true });
      }
    } else if (frame.type === "duplicate") {
      settleHead(frame.id);
      flush();
    } else if (frame.type === "error") {
      if (frame.retry) {
        status.textContent = WORDS.restarting;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => {
          inFlight = null;
          flush();
        }, 5000);
      } else {
        if (frame.id) settleHead(frame.id);
        add({ who: "note", text: frame.detail, ts: new Date().toISOString() });
        flush();
      }
    }
  }
  // A draft's preview: each message is one HTTP call that runs the draft and stores nothing
  // (bot/gateway/routes/preview.py); the conversation's state travels back and forth, signed.
  async function sendPreview(head) {
    const body = { state: preview.state };
    if (head.payload !== undefined) body.payload = head.payload;
    else body.text = head.text;
    if (head.reply_to) body.reply_to = head.reply_to;
    const url =
      `${origin}/api/v1/preview/${encodeURIComponent(brand)}/` +
      `${encodeURIComponent(preview.version)}` +
      `/turn?token=${encodeURIComponent(preview.token)}`;
    let response, data;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (_) {
      onFrame({ type: "error", id: head.id, retry: true });
      return;
    }
    if (!response.ok) {
      onFrame({ type: "error", id: head.id, detail: data.detail || "preview failed" });
      return;
    }
    preview.state = data.state;
    onFrame({ type: "reply", id: head.id, ts: new Date().toISOString(), messages: data.messages });
    for (const line of data.would_store || []) {
      add({ who: "note", text: `Preview, not stored: ${line}`, ts: new Date().toISOString() });
    }
  }
  // The script tag's data-field-NAME attributes ("data-field-customer-id" is customer_id) and
  // the page's query parameters, at most 20 of each. A value is cut at 257 characters: one
  // longer than any field allows (256) still arrives too long, and is refused, not shortened.
  function hiddenFields() {
    const widget = {};
    const url = {};
    for (const attr of Array.from(script.attributes)) {
      if (!attr.name.startsWith("data-field-") || Object.keys(widget).length >= 20) continue;
      widget[attr.name.slice(11).replace(/-/g, "_")] = attr.value.slice(0, 257);
    }
    for (const [name, value] of new URLSearchParams(location.search)) {
      if (Object.keys(url).length >= 20) break;
      url[name.slice(0, 64)] = value.slice(0, 257);
    }
    return { widget, url };
  }
  let idle = false;
  function connect() {
    if (preview) {
      onFrame({ type: "ready" });
      return;
    }
    const url = origin.replace(/^http/, "ws") + config.socket;
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener("open", () =>
      ws.send(
        JSON.stringify({
          type: "hello",
          user_id: userId.replace(/[^A-Za-z0-9_-]/g, ""),
          // The customer's language (customerLanguage), and their time zone for the quiet
          // hours promised to followers.
          lang: customerLanguage() || undefined,
          tz: (Intl.DateTimeFormat().resolvedOptions() || {}).timeZone || undefined,
          // Hidden fields: kept only if the brand's flow declares them, and only once the
          // customer consents to their purpose (docs/flows.md, "Hidden fields").
          fields: hiddenFields(),
        }),
      ),
    );
    ws.addEventListener("message", (event) => {
      try {
        onFrame(JSON.parse(event.data));
      } catch (_) {
        /* a frame we do not understand is ignored */
      }
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      ready = false;
      if (event.code === 4403 || event.code === 4404) {
        status.textContent = WORDS.unavailable;
        return;
      }
      if (event.code === 4000 && outbox.length === 0) {
        idle = true; // closed for being quiet: reconnect on the next message
        status.textContent = "";
        return;
      }
      const delay = Math.min(10000, 500 * 2 ** attempt++) * (0.75 + Math.random() / 2);
      status.textContent = WORDS.reconnecting;
      setTimeout(connect, delay);
    });
  }

  // --- open, close, keyboard -----------------------------------------------------------------
  function open(focus = true) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    save("sessionStorage", "open", true);
    if (focus) input.focus(); // not when the page opens it: that would steal the page's focus
  }
  function close() {
    if (mode !== "bubble") return; // inline and full page: always open
    closeMenu(false);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    save("sessionStorage", "open", false);
    launcher.focus();
  }
  function openMenu() {
    menu.hidden = false;
    privacy.setAttribute("aria-expanded", "true");
    menuItems()[0].focus();
  }
  function closeMenu(refocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    privacy.setAttribute("aria-expanded", "false");
    if (refocus) privacy.focus();
  }
  launcher.addEventListener("click", () => (panel.hidden ? open(true) : close()));
  $(".close").addEventListener("click", close);
  privacy.addEventListener("click", () => (menu.hidden ? openMenu() : closeMenu()));
  menu.addEventListener("keydown", (event) => {
    const items = menuItems();
    const at = items.indexOf(root.activeElement);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Tab") {
      closeMenu(false);
    }
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation();
    if (!menu.hidden) closeMenu();
    else close();
  });
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    enqueue({ text }, text);
  });

  // --- start ---------------------------------------------------------------------------------
  redraw();
  typing.hidden = outbox.length === 0;
  // The widget's own words in the customer's language, when the brand's flow offers it.
  const wanted = customerLanguage();
  const query = wanted ? `?lang=${encodeURIComponent(wanted)}` : "";
  fetch(`${origin}/api/v1/brands/${encodeURIComponent(brand)}/widget-config${query}`)
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((loaded) => {
      config = loaded;
      applyTheme(config);
      if (config.language) host.setAttribute("lang", config.language); // for screen readers
      applyWords(config.words);
      if (preview) $(".preview-note").hidden = false;
      connect();
      const wasOpen = load("sessionStorage", "open", null);
      if (mode !== "bubble") {
        launcher.hidden = true;
        $(".close").hidden = true;
        open(false);
      } else if (wasOpen === true || (wasOpen === null && script.dataset.open === "true")) {
        open(false);
      }
    })
    .catch(() => {
      launcher.hidden = true;
      console.warn(`Candor widget: brand "${brand}" is not available.`);
    });
})();
