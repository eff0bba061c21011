/*
 * Candor brand dashboard: bot/gateway/routes/insights.py serves it at /brands/BRAND/dashboard.
 *
 * The page holds no data. It asks for the brand's API key, keeps it in sessionStorage (this tab
 * only; never in a URL), and calls GET /api/v1/brands/BRAND/insights with
 * `Authorization: Bearer <key>`. Charts are drawn by Chart.js (vendored in bot/web/vendor).
 * Every chart has a table of the same figures (cells carry data-table, data-key and
 * data-measure, like the export rows) and a text alternative. "Updates to followers" comes from
 * GET /api/v1/brands/BRAND/updates (bot/gateway/routes/updates.py), after the report; its
 * failure is said in its own section and leaves the report standing. Data from the server is only
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
    for (const id of ["totals", "themes", "themes-by-language", "completion", "questions"]) {
      $(id).replaceChildren();
    }
    $("updates-note").textContent = "";
    $("empty-updates").hidden = true;
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
      const params = filterParams();
      if (fresh) params.set("fresh", "true");
      const query = params.toString();
      const response = await call(`/insights${query ? `?${query}` : ""}`);
      const report = await response.json();
      $("unlock").hidden = true;
      $("session-actions").hidden = false;
      render(report);
      await loadUpdates(report.min_size);
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
    renderThemes(report.themes || [], report.min_size, report.theme_languages || []);
    renderQuality(report.quality || [], report.min_size);
    renderPilot(report.pilot);
    renderQuestions(report, report.min_size);
  }

  function renderTotals(report) {
    const k = report.min_size;
    const people = report.totals.people;
    const consent = Object.values(report.consent || {});
    // Sums over hidden cells would give them away: the report publishes its own (or null).
    const decisions = report.totals.consent_decisions === undefined
      ? consent.reduce((sum, c) => sum + c.given + c.refused, 0) : report.totals.consent_decisions;
    const withdrawn = report.totals.withdrawals === undefined
      ? consent.reduce((sum, c) => sum + c.withdrawn, 0) : report.totals.withdrawals;
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
      // A hidden figure (null) makes no rate: 0 % would be a wrong figure.
      const rate = step.reached && step.answered !== null ? step.answered / step.reached : null;
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
        "`candor segments BRAND --publish FILE`.");
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
    const seen = new Set(weeks.flatMap((w) => Object.keys(w).filter((e) => e !== "week" &&
      e !== "total")));
    const known = EMOTIONS.filter(([name]) => seen.has(name));
    const extra = [...seen].filter((e) => !EMOTIONS.some(([name]) => name === e)).sort();
    const order = [...known, ...extra.map((e) => [e, "#777777"])];
    const table = $("table-emotions");
    table.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Week" }),
      ...order.map(([e]) => el("th", { scope: "col", text: e })),
      el("th", { scope: "col", text: "Total" })));
    const body = table.tBodies[0];
    for (const w of weeks) {
      const total = w.total !== undefined ? w.total
        : order.reduce((sum, [e]) => sum + (w[e] || 0), 0);
      body.append(el("tr", {}, el("th", { scope: "row", text: w.week }),
        ...order.map(([e]) => cell("emotions", w.week, e, w[e] === undefined ? 0 : w[e])),
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

  // A brand whose customers answered in more than one language sees each language's themes
  // under its own heading: themes are found per language (a theme never mixes languages), and
  // a language fewer than k people answered in is never named (report.theme_languages).
  const languageNames = (() => {
    try { return new Intl.DisplayNames([navigator.language || "en"], { type: "language" }); }
    catch (_) { return null; }
  })();
  const languageName = (code) => (languageNames && languageNames.of(code)) || code;

  function themeItem(theme, heading, scope = "") {
    const meter = el("span");
    meter.style.width = `${Math.round(theme.share * 100)}%`;
    return el("li", { "data-theme": theme.label, "data-language": theme.language || "" },
      el(heading, { text: theme.label }),
      el("p", { class: "size" },
        el("span", {
          "data-table": "themes", "data-key": theme.label, "data-measure": "size",
          "data-value": theme.size, text: `${fmt(theme.size)} answers`,
        }),
        ` (${percent.format(theme.share)} of those analysed${scope})`),
      el("div", { class: "meter", "aria-hidden": "true" }, meter),
      theme.terms && theme.terms.length
        ? el("p", { class: "terms", text: `Words: ${theme.terms.join(", ")}` }) : null,
      ...(theme.quotes || []).map((q) => el("blockquote", { class: "quote", text: q })),
    );
  }

  function renderThemes(themes, k, languages) {
    const list = $("themes");
    const grouped = $("themes-by-language");
    if (languages.length > 1) {
      $("empty-themes").hidden = true;
      for (const language of languages) {
        const mine = themes.filter((t) => t.language === language);
        const id = `h-themes-${language}`;
        grouped.append(el("section", { class: "theme-language", "data-language": language,
          "aria-labelledby": id },
          el("h3", { id, text: `${languageName(language)} (${language})` }),
          mine.length
            ? el("ol", { class: "themes" },
              ...mine.map((t) => themeItem(t, "h4", " in this language")))
            : el("p", { class: "empty",
              text: `No theme is shared by ${k} or more people in this language yet.` }),
        ));
      }
      return;
    }
    if (!themes.length) {
      $("empty-themes").textContent =
        `No theme is shared by ${k} or more free-text answers yet.`;
      $("empty-themes").hidden = false;
      return;
    }
    $("empty-themes").hidden = true;
    for (const theme of themes) list.append(themeItem(theme, "h3"));
  }

  // Per free-text question: how much the answers say. A question answered by fewer than k
  // people has no figures (null in the report), shown as a dash like every suppressed figure.
  const QUALITY = [
    ["answers", (v) => fmt(v)],
    ["vague_share", (v) => share(v)],
    ["median_words", (v) => fmt(v)],
    ["median_informativeness", (v) => fmt(v)],
    ["probed", (v) => fmt(v)],
    ["probe_informative_share", (v) => share(v)],
    ["dropoff_after_probe", (v) => share(v)],
    ["dropoff_without_probe", (v) => share(v)],
  ];
  const share = (v) => (v === null || v === undefined ? "–" : percent.format(v));

  function renderQuality(questions, k) {
    const body = $("table-quality").tBodies[0];
    for (const q of questions) {
      body.append(el("tr", {}, el("th", { scope: "row", text: q.step }),
        ...QUALITY.map(([m, show]) => cell("quality", q.step, m, q[m], show(q[m])))));
    }
    const shown = questions.filter((q) => q.people !== null && q.people !== undefined);
    $("empty-quality").textContent = questions.length
      ? `${questions.length - shown.length} of ${questions.length} questions have answers ` +
        `from fewer than ${k} people, so they show no figures.`
      : "This flow has no free-text questions.";
    $("empty-quality").hidden = shown.length === questions.length && questions.length > 0;
  }

  // A pilot below k: say what will appear and when, instead of a page of dashes.
  function renderPilot(pilot) {
    $("pilot").hidden = !pilot;
    $("pilot-text").textContent = pilot ? pilot.message : "";
  }

  // Per question, by its text (the id on hover): counts and shares per answer, the mean of a
  // rating, drop-off, and the verbatims of free-text questions (a page at a time, searchable).
  function renderQuestions(report, k) {
    const list = $("questions");
    list.replaceChildren();
    const c = report.completion;
    const done = $("completion");
    done.replaceChildren();
    if (c) {
      for (const [m, label, value, shown] of [
        ["started", "Respondents", c.started, fmt(c.started)],
        ["completed", "Completed", c.completed, fmt(c.completed)],
        ["rate", "Completion rate", c.rate, share(c.rate)],
        ["median_seconds", "Median time to complete", c.median_seconds,
          c.median_seconds === null ? "–" : `${fmt(Math.round(c.median_seconds / 6) / 10)} min`],
      ]) {
        done.append(el("div", {}, el("dt", { text: label }), el("dd", {
          "data-table": "completion", "data-key": "all", "data-measure": m,
          "data-value": value === null ? "" : value, text: shown,
        })));
      }
    }
    for (const q of report.questions || []) {
      const body = el("tbody");
      for (const o of q.options) {
        body.append(el("tr", {}, el("th", { scope: "row", text: o.label }),
          cell("question", q.id, o.value, o.count), cell("question", q.id, `${o.value}:share`,
            o.share, share(o.share))));
      }
      const facts = [
        el("span", { "data-table": "question", "data-key": q.id, "data-measure": "respondents",
          "data-value": q.respondents === null ? "" : q.respondents,
          text: q.respondents === null ? `fewer than ${k} people (or hidden)`
            : `${fmt(q.respondents)} people answered` }),
      ];
      if (q.mean !== undefined) {
        facts.push(" · mean ", el("span", { "data-table": "question", "data-key": q.id,
          "data-measure": "mean", "data-value": q.mean === null ? "" : q.mean,
          text: q.mean === null ? "–" : q.mean.toFixed(2) }));
      }
      if (q.nps) {  // % promoters - % detractors, shown only when all three groups are
        facts.push(" · NPS ", el("span", { "data-table": "question", "data-key": q.id,
          "data-measure": "nps", "data-value": q.nps.score === null ? "" : q.nps.score,
          text: q.nps.score === null ? "–" : (q.nps.score > 0 ? "+" : "") + q.nps.score }));
        for (const [g, v] of Object.entries(q.nps.groups)) {
          facts.push(` · ${g} `, el("span", { "data-table": "question", "data-key": q.id,
            "data-measure": g, "data-value": v.count === null ? "" : v.count,
            text: v.count === null ? "–" : `${fmt(v.count)} (${share(v.share)})` }));
        }
      }
      if (q.mean_place) {
        const places = Object.entries(q.mean_place).filter(([, p]) => p !== null)
          .sort((a, b) => a[1] - b[1]);
        facts.push(" · average place: ", el("span", { "data-table": "question",
          "data-key": q.id, "data-measure": "mean_place",
          text: places.length ? places.map(([c, p]) => `${c} ${p.toFixed(1)}`).join(", ")
            : "–" }));
      }
      if (q.dropoff) {
        facts.push(" · stopped here ", el("span", { "data-table": "question", "data-key": q.id,
          "data-measure": "dropoff", "data-value": q.dropoff.count === null ? "" : q.dropoff.count,
          text: q.dropoff.count === null ? "–"
            : `${fmt(q.dropoff.count)} (${share(q.dropoff.share)})` }));
      }
      const item = el("li", { "data-question": q.id },
        el("h3", { title: q.id, text: q.text }), el("p", { class: "hint" }, ...facts));
      if (q.options.length) {
        item.append(el("div", { class: "table-wrap" }, el("table", {},
          el("caption", { text: q.text }),
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Answer" }),
            el("th", { scope: "col", text: "People" }), el("th", { scope: "col", text: "Share" }))),
          body)));
      }
      if (q.type === "free_text") item.append(verbatimBox(q, k));
      list.append(item);
    }
    $("filters-applied").textContent = Object.entries(report.filters || {})
      .filter(([, v]) => v !== null).map(([n, v]) => `${n}: ${v}`).join(", ") || "none";
  }

  function verbatimBox(q, k) {
    const items = el("ol", { class: "verbatims", "data-verbatims": q.id });
    const note = el("p", { class: "hint" });
    const search = el("input", { type: "search", "aria-label": `Search the answers to: ${q.text}`,
      placeholder: "Search these answers" });
    let page = 1;
    const more = el("button", { type: "button", text: "More answers", hidden: true });
    async function fetchPage(reset) {
      if (reset) { page = 1; items.replaceChildren(); }
      const params = filterParams();
      params.set("page", String(page));
      if (search.value.trim()) params.set("q", search.value.trim());
      try {
        const body = await (await call(
          `/questions/${encodeURIComponent(q.id)}/verbatims?${params}`)).json();
        for (const v of body.items) items.append(el("li", { class: "quote", text: v.text }));
        note.textContent = body.message || (body.total === null
          ? `Fewer than ${k} answers match.` : `${fmt(body.total)} answers, newest first.`);
        more.hidden = page >= body.pages;
      } catch (error) {
        note.textContent = explain(error instanceof ApiError ? error : new ApiError(-1));
      }
    }
    more.addEventListener("click", () => { page += 1; fetchPage(false); });
    search.addEventListener("change", () => fetchPage(true));
    const box = el("details", {}, el("summary", { text: "Answers in customers' own words" }),
      search, note, items, more);
    box.addEventListener("toggle", () => { if (box.open && !items.childElementCount) fetchPage(true); },
      { once: false });
    return box;
  }

  function filterParams() {
    const params = new URLSearchParams();
    for (const name of ["since", "until", "channel", "flow_version", "segment"]) {
      const value = ($(`filter-${name}`) || {}).value;
      if (value) params.set(name, value);
    }
    return params;
  }

  // --- updates to followers -------------------------------------------------------------------
  // Deliveries per state, as the route gives them: 0, a rounded count, or null for a count about
  // fewer than k people (shown as such, never as a number).
  const DELIVERY_STATES = ["queued", "deferred", "sending", "sent", "failed", "unreachable",
    "unfollowed", "unknown", "cancelled"];

  async function loadUpdates(reportK) {
    const note = $("updates-note");
    const body = $("table-updates").tBodies[0];
    body.replaceChildren();
    try {
      const listed = await (await call("/updates")).json();
      const k = listed.min_size || reportK;
      for (const u of listed.updates) {
        body.append(el("tr", { "data-update": u.id },
          el("th", { scope: "row", title: u.id, text: u.title }),
          el("td", { "data-update-status": u.id, text: u.status }),
          ...DELIVERY_STATES.map((state) => {
            const value = u.progress[state];
            return cell("updates", u.id, state, value,
              value === null ? `fewer than ${k}` : undefined);
          })));
      }
      note.textContent = "";
      $("empty-updates").textContent = "No update has been composed yet: compose one with " +
        "`candor updates compose FILE` or the admin API (docs/updates.md).";
      $("empty-updates").hidden = listed.updates.length > 0;
    } catch (error) {
      if (!(error instanceof ApiError)) console.error(error);
      $("empty-updates").hidden = true;
      note.textContent = "The updates could not be loaded: " +
        explain(error instanceof ApiError ? error : new ApiError(-1));
    }
  }

  // --- exports ---------------------------------------------------------------------------------
  // `path` under the brand's API; `fallback` names the file if the server gives no name.
  async function download(path, fallback, button) {
    hideError();
    button.disabled = true;
    try {
      const response = await call(path);
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      const name = match ? match[1] : fallback;
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
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  $("retry").addEventListener("click", () => load(false));
  $("forget").addEventListener("click", () => {
    setKey(null);
    clearReport();
    hideError();
    setState("locked", "The key was forgotten in this tab.");
    lock();
  });
  // Downloads take the page's filters, as the figures on screen do.
  function withFilters(path) {
    const params = filterParams().toString();
    return params ? `${path}&${params}` : path;
  }
  for (const button of document.querySelectorAll("[data-export]")) {
    const format = button.dataset.export;
    button.addEventListener("click", () =>
      download(withFilters(`/insights/export?format=${format}`), `${brand}-insights.${format}`,
        button));
  }
  // The answers themselves, one row per response (consent in force only; CSV safe to open).
  for (const button of document.querySelectorAll("[data-answers]")) {
    const format = button.dataset.answers;
    button.addEventListener("click", () =>
      download(withFilters(`/export?format=${format}&layout=responses`),
        `${brand}-responses.${format}`, button));
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
