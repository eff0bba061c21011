/*
 * Candor brand dashboard: bot/gateway/routes/insights.py serves it at /brands/BRAND/dashboard.
 *
 * The page holds no data. It asks for the brand's API key, keeps it in sessionStorage (this tab
 * only; never in a URL), and calls GET /api/v1/brands/BRAND/insights with
 * `Authorization: Bearer <key>`. Charts are drawn by Chart.js (vendored in bot/web/vendor).
 * Every chart has a table of the same figures (cells carry data-table, data-key and
 * data-measure, like the export rows) and a text alternative. Data from the server is only
 * ever inserted as text, never parsed as HTML. Plain ES2020, no build step.
 */
(() => {
  "use strict";
  const brand = document.body.dataset.brand;
  const api = `/api/v1/brands/${encodeURIComponent(brand)}`;
  const slot = `candor:dashboard:${brand}:key`;
  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat();
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const charts = {};
  let memoryKey = null; // when sessionStorage is blocked

  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const COLOURS = {
    answered: "#009E73", skipped: "#E69F00", dropped: "#D55E00",
    given: "#009E73", refused: "#D55E00", withdrawn: "#CC79A7", expired: "#999999",
    segment: "#0072B2",
  };
  const EMOTIONS = [
    ["happy", "#009E73"], ["excited", "#56B4E9"], ["calm", "#0072B2"], ["neutral", "#999999"],
    ["confused", "#F0E442"], ["worried", "#E69F00"], ["frustrated", "#D55E00"],
    ["sad", "#CC79A7"], ["angry", "#7A1F1F"], ["other", "#444444"],
  ];
  const FUNNEL = ["reached", "answered", "skipped", "dropped"];
  const CONSENT = ["requested", "given", "refused", "withdrawn", "expired"];

  // --- small helpers ---------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("data-")) node.dataset[camel(name.slice(5))] = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const fmt = (n) => (n === null || n === undefined ? "–" : number.format(n));
  const cell = (table, key, measure, value, shown) =>
    el("td", {
      "data-table": table, "data-key": key, "data-measure": measure,
      "data-value": value === null || value === undefined ? "" : value,
      text: shown === undefined ? fmt(value) : shown,
    });

  function getKey() {
    try {
      return window.sessionStorage.getItem(slot);
    } catch (_) {
      return memoryKey;
    }
  }
  function setKey(key) {
    memoryKey = key;
    try {
      if (key === null) window.sessionStorage.removeItem(slot);
      else window.sessionStorage.setItem(slot, key);
    } catch (_) {
      /* storage blocked: memory only */
    }
  }

  // --- talking to the gateway ------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super(`HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function call(path) {
    let response;
    try {
      response = await fetch(api + path, {
        headers: { Authorization: `Bearer ${getKey()}`, Accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (_) {
      throw new ApiError(0);
    }
    if (!response.ok) {
      let body = {};
      try {
        body = await response.json();
      } catch (_) {
        /* not JSON: keep the status */
      }
      throw new ApiError(response.status, body);
    }
    return response;
  }

  function explain(error) {
    switch (error.status) {
      case 401:
        return "Enter the brand's API key to see its figures.";
      case 403:
        return `This key does not open ${brand}: it is wrong, expired or revoked, or it belongs ` +
          "to another brand. Enter the key issued for this brand.";
      case 404:
        return `There is no brand named ${brand} on this server. Check the address.`;
      case 503:
        return "The brand's store is unavailable or restarting. Nothing was lost; " +
          "try again in a few seconds.";
      case 0:
        return "The Candor server could not be reached. Check your connection and try again.";
      default:
        return "Something went wrong on the server while computing the figures " +
          `(HTTP ${error.status}). Nothing was lost; try again, or ask your Candor operator.`;
    }
  }

  // --- page states -----------------------------------------------------------------------------
  function setState(state, message) {
    document.body.dataset.state = state;
    $("main").setAttribute("aria-busy", state === "loading" ? "true" : "false");
    $("status").textContent = message || "";
  }

  function showError(error) {
    const authProblem = error.status === 401 || error.status === 403;
    $("error-text").textContent = explain(error);
    $("error").dataset.status = String(error.status);
    $("error").hidden = false;
    $("retry").hidden = authProblem || error.status === 404;
    if (authProblem) {
      setKey(null);
      clearReport();
      lock();
    }
    setState("error");
  }

  function hideError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  function lock() {
    $("unlock").hidden = false;
    $("session-actions").hidden = true;
    $("key").value = "";
    $("key").focus();
  }

  function clearReport() {
    for (const [name, chart] of Object.entries(charts)) {
      chart.destroy();
      delete charts[name];
    }
    $("report").hidden = true;
    for (const id of ["totals", "themes"]) $(id).replaceChildren();
    for (const table of document.querySelectorAll("#report table")) {
      table.tBodies[0].replaceChildren();
    }
  }

  async function load(fresh) {
    hideError();
    setState("loading", fresh ? "Recomputing the figures; on a large store this takes a while…"
      : "Loading the figures…");
    $("refresh").disabled = true;
    const slow = setTimeout(() => {
      $("status").textContent = "Still computing: on a store with many answers this takes up " +
        "to a minute or two. The figures are then kept for five minutes.";
    }, 4000);
    try {
      const response = await call(`/insights${fresh ? "?fresh=true" : ""}`);
      const report = await response.json();
      $("unlock").hidden = true;
      $("session-actions").hidden = false;
      render(report);
      const when = new Date(report.computed_at || Date.now()).toLocaleString();
      setState("ready", `Figures computed ${when}; kept for up to five minutes ` +
        "(“Recompute now” refreshes them).");
    } catch (error) {
      if (!(error instanceof ApiError)) {
        console.error(error);
        showError(new ApiError(-1));
      } else {
        showError(error);
      }
    } finally {
      clearTimeout(slow);
      $("refresh").disabled = false;
    }
  }

  // --- rendering -------------------------------------------------------------------------------
  function render(report) {
    clearReport();
    $("report").hidden = false;
    renderTotals(report);
    renderFunnel(report.funnel || []);
    renderConsent(report.consent || {});
    renderSegments(report.segments, report.min_size);
    renderEmotions(report.emotions || [], report.min_size);
    renderThemes(report.themes || [], report.min_size);
  }

  function renderTotals(report) {
    const k = report.min_size;
    const people = report.totals.people;
    const consent = Object.values(report.consent || {});
    const decisions = consent.reduce((sum, c) => sum + c.given + c.refused, 0);
    const withdrawn = consent.reduce((sum, c) => sum + c.withdrawn, 0);
    const items = [
      ["answers", "Answers stored", report.totals.answers, null],
      ["people", "People", people, people === null ? `fewer than ${k}` : null],
      ["consent_decisions", "Consent decisions", decisions, null],
      ["withdrawals", "Withdrawals", withdrawn, null],
      ["segment_eligible", "In segments (consented)",
        report.segments ? report.segments.eligible : null,
        report.segments ? null : "no segments published"],
    ];
    const list = $("totals");
    for (const [key, label, value, note] of items) {
      const dd = el("dd", {
        "data-table": "totals", "data-key": key, "data-measure": "count",
        "data-value": value === null ? "" : value, class: note ? "small" : null,
        text: note || fmt(value),
      });
      list.append(el("div", {}, el("dt", { text: label }), dd));
    }
    list.append(el("div", {}, el("dt", { text: "Flow" }),
      el("dd", { class: "small", text: `${report.flow.id} v${report.flow.version}` })));
    $("k-note").textContent = `Privacy: no figure about fewer than ${k} people is shown ` +
      `(themes, segments and emotion weeks below ${k} are left out).`;
  }

  function baseOptions(extra) {
    return Object.assign({
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 300 },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    }, extra);
  }

  function draw(name, type, data, options, summary) {
    const canvas = $(`chart-${name}`);
    canvas.setAttribute("aria-label", summary);
    canvas.parentElement.hidden = false;
    $(`empty-${name}`).hidden = true;
    charts[name] = new window.Chart(canvas, { type, data, options: baseOptions(options) });
  }

  function empty(name, message) {
    $(`chart-${name}`).parentElement.hidden = true;
    const note = $(`empty-${name}`);
    if (message) note.textContent = message;
    note.hidden = false;
  }

  function renderFunnel(steps) {
    const body = $("table-funnel").tBodies[0];
    for (const step of steps) {
      const rate = step.reached ? step.answered / step.reached : null;
      body.append(el("tr", {},
        el("th", { scope: "row", text: step.step }),
        ...FUNNEL.map((m) => cell("funnel", step.step, m, step[m])),
        cell("funnel", step.step, "answer_rate", rate, rate === null ? "–" : percent.format(rate)),
      ));
    }
    if (!steps.some((s) => s.reached)) return empty("funnel");
    const stacked = { stacked: true, beginAtZero: true, ticks: { precision: 0 } };
    const narrow = window.matchMedia("(max-width: 600px)").matches; // phones: bars sideways
    draw("funnel", "bar", {
      labels: steps.map((s) => narrow ? `${s.step} (${fmt(s.reached)})`
        : [s.step, `${fmt(s.reached)} reached`]),
      datasets: ["answered", "skipped", "dropped"].map((m) => ({
        label: m, data: steps.map((s) => s[m]), backgroundColor: COLOURS[m], stack: "reached",
      })),
    }, {
      indexAxis: narrow ? "y" : "x",
      scales: narrow ? { x: stacked, y: { stacked: true, ticks: { autoSkip: false } } }
        : { x: { stacked: true, ticks: { autoSkip: false } }, y: stacked },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            title: (items) => steps[items[0].dataIndex].step,
            footer: (items) => `reached: ${fmt(steps[items[0].dataIndex].reached)}`,
          },
        },
      },
    }, "Funnel per question. " + steps.map((s) =>
      `${s.step}: ${s.reached} reached, ${s.answered} answered, ${s.skipped} skipped, ` +
      `${s.dropped} dropped`).join(". "));
  }

  function renderConsent(consent) {
    const purposes = Object.keys(consent);
    const body = $("table-consent").tBodies[0];
    for (const p of purposes) {
      const c = consent[p];
      body.append(el("tr", {},
        el("th", { scope: "row", text: p }),
        ...CONSENT.map((m) => cell("consent", p, m, c[m])),
        cell("consent", p, "rate", c.rate, c.rate === null ? "–" : percent.format(c.rate)),
      ));
    }
    if (!purposes.length) return empty("consent");
    const label = (p) => {
      const rate = consent[p].rate;
      return rate === null ? p : [p, `${percent.format(rate)} consent`];
    };
    draw("consent", "bar", {
      labels: purposes.map(label),
      datasets: ["given", "refused", "withdrawn", "expired"].map((m) => ({
        label: m, data: purposes.map((p) => consent[p][m]), backgroundColor: COLOURS[m],
      })),
    }, {
      indexAxis: "y",
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    }, "Consent per purpose. " + purposes.map((p) => {
      const c = consent[p];
      const rate = c.rate === null ? "no decisions yet" : `rate ${percent.format(c.rate)}`;
      return `${p}: ${c.given} given, ${c.refused} refused, ${c.withdrawn} withdrawn, ${rate}`;
    }).join(". "));
  }

  function renderSegments(segments, k) {
    const note = $("segments-note");
    const suppressed = $("suppressed");
    if (!segments) {
      note.textContent = "";
      suppressed.hidden = true;
      return empty("segments", "This brand has no segments yet; publish them with " +
        "`candor segments publish FILE`.");
    }
    note.textContent = `People who consented to segmentation and did not object ` +
      `(${fmt(segments.eligible)}), grouped by the brand's segment rules.`;
    const sizes = Object.entries(segments.sizes || {}).sort((a, b) => b[1] - a[1]);
    const body = $("table-segments").tBodies[0];
    for (const [name, size] of sizes) {
      body.append(el("tr", {}, el("th", { scope: "row", text: name }),
        cell("segments", name, "size", size)));
    }
    suppressed.hidden = !segments.suppressed.length;
    suppressed.textContent = segments.suppressed.length
      ? `Not shown, fewer than ${k} people: ${segments.suppressed.join(", ")}.` : "";
    suppressed.dataset.names = segments.suppressed.join(",");
    if (!sizes.length) return empty("segments", `No segment has ${k} or more people yet.`);
    draw("segments", "bar", {
      labels: sizes.map(([name]) => name),
      datasets: [{ label: "people", data: sizes.map(([, size]) => size),
        backgroundColor: COLOURS.segment }],
    }, {
      indexAxis: "y",
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    }, "Segment sizes. " + sizes.map(([n, s]) => `${n}: ${s} people`).join(". "));
  }

  function renderEmotions(weeks, k) {
    const seen = new Set(weeks.flatMap((w) => Object.keys(w).filter((e) => e !== "week")));
    const known = EMOTIONS.filter(([name]) => seen.has(name));
    const extra = [...seen].filter((e) => !EMOTIONS.some(([name]) => name === e)).sort();
    const order = [...known, ...extra.map((e) => [e, "#777777"])];
    const table = $("table-emotions");
    table.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Week" }),
      ...order.map(([e]) => el("th", { scope: "col", text: e })),
      el("th", { scope: "col", text: "Total" })));
    const body = table.tBodies[0];
    for (const w of weeks) {
      const total = order.reduce((sum, [e]) => sum + (w[e] || 0), 0);
      body.append(el("tr", {}, el("th", { scope: "row", text: w.week }),
        ...order.map(([e]) => cell("emotions", w.week, e, w[e] || 0)),
        cell("emotions", w.week, "total", total)));
    }
    if (!weeks.length) {
      return empty("emotions", `No week has ${k} or more emotion answers yet.`);
    }
    draw("emotions", "bar", {
      labels: weeks.map((w) => w.week),
      datasets: order.map(([e, colour]) => ({
        label: e, data: weeks.map((w) => w[e] || 0), backgroundColor: colour,
      })),
    }, {
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    }, "Emotions per week. " + weeks.map((w) => `${w.week}: ` +
      order.filter(([e]) => w[e]).map(([e]) => `${w[e]} ${e}`).join(", ")).join(". "));
  }

  function renderThemes(themes, k) {
    const list = $("themes");
    if (!themes.length) {
      $("empty-themes").textContent =
        `No theme is shared by ${k} or more free-text answers yet.`;
      $("empty-themes").hidden = false;
      return;
    }
    $("empty-themes").hidden = true;
    for (const theme of themes) {
      const meter = el("span");
      meter.style.width = `${Math.round(theme.share * 100)}%`;
      list.append(el("li", { "data-theme": theme.label },
        el("h3", { text: theme.label }),
        el("p", { class: "size" },
          el("span", {
            "data-table": "themes", "data-key": theme.label, "data-measure": "size",
            "data-value": theme.size, text: `${fmt(theme.size)} answers`,
          }),
          ` (${percent.format(theme.share)} of those analysed)`),
        el("div", { class: "meter", "aria-hidden": "true" }, meter),
        theme.terms && theme.terms.length
          ? el("p", { class: "terms", text: `Words: ${theme.terms.join(", ")}` }) : null,
        ...(theme.quotes || []).map((q) => el("blockquote", { class: "quote", text: q })),
      ));
    }
  }

  // --- exports ---------------------------------------------------------------------------------
  async function download(format, button) {
    hideError();
    button.disabled = true;
    try {
      const response = await call(`/insights/export?format=${format}`);
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      const name = match ? match[1] : `${brand}-insights.${format}`;
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      $("status").textContent = `Downloaded ${name}.`;
    } catch (error) {
      showError(error instanceof ApiError ? error : new ApiError(-1));
    } finally {
      button.disabled = false;
    }
  }

  // --- wiring ----------------------------------------------------------------------------------
  if (window.Chart) {
    window.Chart.defaults.color = "#333333";
    window.Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
  }
  $("unlock").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    setKey(key);
    $("key").value = "";
    load(false);
  });
  $("refresh").addEventListener("click", () => load(true));
  $("retry").addEventListener("click", () => load(false));
  $("forget").addEventListener("click", () => {
    setKey(null);
    clearReport();
    hideError();
    setState("locked", "The key was forgotten in this tab.");
    lock();
  });
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => download(button.dataset.export, button));
  }
  if (!window.Chart) {
    showError(new ApiError(-1));
    $("error-text").textContent = "The charting library did not load; reload the page.";
  } else if (getKey()) {
    load(false);
  } else {
    setState("locked");
    lock();
  }
})();
