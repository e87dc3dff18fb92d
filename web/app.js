// ratchet web UI: a single page over the JSON routes of `ratchet serve`.
// Plain ES2020, no build step, no framework. uPlot (vendored, MIT) draws the what-if chart.
'use strict';

(() => {
  // ------------------------------------------------------------------------------------
  // Small helpers
  // ------------------------------------------------------------------------------------

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Builds an element: h('td', {class: 'num', title: 'x'}, 'text', child, …). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k === 'style') Object.assign(el.style, v);
        else if (k in el && typeof v !== 'string') el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const formatters = new Map();
  function formatter(dp, sign) {
    const key = `${dp}:${sign}`;
    let f = formatters.get(key);
    if (!f) {
      f = new Intl.NumberFormat('en-US', {
        minimumFractionDigits: dp,
        maximumFractionDigits: dp,
        signDisplay: sign ? 'exceptZero' : 'auto',
      });
      formatters.set(key, f);
    }
    return f;
  }

  const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
  /** A number at `dp` decimals with thousands separators; an em dash when absent. */
  const fmt = (x, dp = 1) => (isNum(x) ? formatter(dp, false).format(x) : '—');
  /** As fmt, with an explicit sign (and a true minus sign). */
  const fmtSigned = (x, dp = 1) => (isNum(x) ? formatter(dp, true).format(x).replace('-', '−') : '—');
  const fmtTokS = (x) => fmt(x, 1);
  const fmtSec = (x) => fmt(x, 3);
  /** Three significant digits: a band's ends are not known better than that. */
  const fmtSig = (x) => (isNum(x) ? String(Number(x.toPrecision(3))) : '—');
  /** The 80 % uncertainty band of a projected number (`decode_tok_s`, `prefill_tok_s`,
   * `ttft_s`): its value times the record's `band_*_p10`/`p90` factors; null when the rule set
   * states none or the number is a measurement (factors of 1). */
  const BAND_FACTORS = { decode_tok_s: 'band_decode', prefill_tok_s: 'band_prefill', ttft_s: 'band_ttft' };
  function bandOf(res, field) {
    const k = BAND_FACTORS[field];
    const v = res && res[field];
    const lo = res && res[`${k}_p10`];
    const hi = res && res[`${k}_p90`];
    if (!isNum(v) || !isNum(lo) || !isNum(hi) || (lo === 1 && hi === 1)) return null;
    return [v * lo, v * hi];
  }
  /** A projected number and, beneath it, its band. */
  function withBand(res, field, text) {
    const b = bandOf(res, field);
    if (!b) return text;
    const basis = res.band_basis ? ` (${String(res.band_basis).replace(/_/g, ' ')})` : '';
    return [text, h('span', { class: 'band', title: `80 % band: the true value lies here eight times in ten${basis}` }, `${fmtSig(b[0])}–${fmtSig(b[1])}`)];
  }
  const fmtGB = (x) => (isNum(x) ? `${fmt(x, 1)} GB` : '—');
  const fmtInt = (x) => fmt(x, 0);
  /** A number as short as it can be without losing its digits (slider values, costs). */
  const fmtAuto = (x) => (isNum(x) ? (Number.isInteger(x) ? fmtInt(x) : String(Number(x.toPrecision(6)))) : '—');

  class ApiError extends Error {
    constructor(message, status, kind) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.kind = kind;
    }
  }

  /** GET (no body) or POST (JSON body) a route; resolves to the parsed JSON or throws ApiError. */
  async function api(path, body, timeoutMs = 30000) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const init = { headers: { accept: 'application/json' }, signal: ctl.signal, cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    let text;
    try {
      res = await fetch(path, init);
      text = await res.text();
    } catch (e) {
      const why = e && e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : e.message;
      throw new ApiError(`cannot reach the server (${why})`, 0, 'network');
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        if (res.ok) throw new ApiError(`${path}: the answer is not JSON`, res.status, 'bad_response');
      }
    }
    if (!res.ok) {
      const err = data && data.error;
      const message = err && err.message ? err.message : `${path}: HTTP ${res.status} ${res.statusText}`.trim();
      throw new ApiError(message, res.status, (err && err.kind) || 'http');
    }
    return data;
  }

  /** Hands out tickets; only the newest ticket's answer is rendered. */
  function latest() {
    let seq = 0;
    return { take: () => ++seq, isCurrent: (t) => t === seq };
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function setStatus(el, message, kind) {
    el.textContent = message || '';
    el.classList.toggle('error', kind === 'error');
    el.classList.toggle('busy', kind === 'busy');
  }

  /** Fills a select with [{value, text, title?}], keeping the current choice when it still exists. */
  function fillSelect(sel, items, preferred) {
    const keep = sel.value || preferred;
    sel.replaceChildren(...items.map((it) => h('option', { value: it.value, title: it.title }, it.text)));
    const values = items.map((it) => it.value);
    if (keep !== undefined && values.includes(keep)) sel.value = keep;
    else if (preferred !== undefined && values.includes(preferred)) sel.value = preferred;
    sel.disabled = items.length === 0;
  }

  function provenanceText(p, extra) {
    if (!p) return '';
    const parts = [
      `registry ${p.registry ?? '?'} ${p.registry_version ?? ''}`.trim(),
      `rule set ${p.rule_set ?? '?'}`,
      p.content_hash ? `hash ${String(p.content_hash).slice(0, 16)}` : null,
      p.generation !== undefined ? `generation ${p.generation}` : null,
      ...(extra || []),
    ];
    return parts.filter(Boolean).join(' · ');
  }

  // Badges are emoji in the registry's badge table; they are drawn as coloured dots so they
  // look the same on every system (no emoji font needed). Unknown badges are shown as text.
  const BADGE_COLOURS = { '🟢': 'green', '🔵': 'blue', '🟡': 'yellow', '🟠': 'orange', '🔴': 'red', '🟣': 'purple', '⚪': 'grey', '⚫': 'black' };
  function badge(b, what) {
    if (!b) return null;
    const colour = BADGE_COLOURS[b];
    if (!colour) return h('span', { class: 'badge' }, b);
    return h('span', { class: `badge dot-${colour}`, role: 'img', 'aria-label': `${colour} badge${what ? ` (${what})` : ''}`, dataset: { badge: b } });
  }

  /** Short reason of a non-Projected result (for narrow cells). */
  const shortReason = (r) => {
    if (!r) return 'no result';
    if (r.type === 'WontFit') return `won't fit (${fmtSigned(r.headroom_gb)} GB)`;
    if (r.type === 'DtypeMismatch') return `can't run ${r.required_dtype ?? 'the dtype'}`;
    return String(r.type ?? 'unknown');
  };

  const resultReason = (r) => {
    if (!r) return 'no result';
    switch (r.type) {
      case 'Projected':
        return '';
      case 'WontFit':
        return `won't fit: needs ${fmtGB(r.required_gb)}, ${fmtGB(r.available_gb)} available (${fmtSigned(r.headroom_gb)} GB)`;
      case 'DtypeMismatch':
        return `can't run ${r.required_dtype ?? 'this dtype'}${r.retargeting_hint ? ` — ${r.retargeting_hint}` : ''}`;
      default:
        return String(r.type ?? 'unknown result');
    }
  };

  // ------------------------------------------------------------------------------------
  // Shared state: the catalog, the tiers, the packs, the registry badges, the generation
  // ------------------------------------------------------------------------------------

  const state = {
    generation: null,
    models: [],
    tiers: [],
    packs: [],
    listsError: null,
    tab: 'ladder',
  };

  async function loadLists() {
    const [models, tiers, packs] = await Promise.allSettled([api('/v1/models'), api('/v1/tiers'), api('/v1/packs')]);
    const errors = [];
    if (models.status === 'fulfilled') state.models = (models.value && models.value.models) || [];
    else errors.push(`models: ${models.reason.message}`);
    if (tiers.status === 'fulfilled') state.tiers = (tiers.value && tiers.value.tiers) || [];
    else errors.push(`tiers: ${tiers.reason.message}`);
    if (packs.status === 'fulfilled') state.packs = (packs.value && packs.value.packs) || [];
    else errors.push(`packs: ${packs.reason.message}`);
    state.listsError = errors.length ? errors.join('; ') : null;

    const modelItems = state.models.map((m) => ({
      value: m.key,
      text: `${m.base || m.key}${m.quant_scheme ? ` · ${m.quant_scheme}` : ''}  (${m.key})`,
      title: [m.family, isNum(m.total_params_b) ? `${fmtAuto(m.total_params_b)} B params` : null, m.description]
        .filter(Boolean)
        .join(' · '),
    }));
    fillSelect($('#model'), modelItems);
    fillSelect($('#plan-model'), modelItems);
    fillSelect(
      $('#plan-tier'),
      state.tiers.map((t) => ({
        value: t.name,
        text: t.name,
        title: [isNum(t.mem_capacity_gb) ? `${fmt(t.mem_capacity_gb, 0)} GB` : null,
          isNum(t.mem_bandwidth_gbs) ? `${fmt(t.mem_bandwidth_gbs, 1)} GB/s` : null, t.mem_type]
          .filter(Boolean)
          .join(' · '),
      })),
      'NPU Mid',
    );
    whatif.fillPacks();
  }

  // ------------------------------------------------------------------------------------
  // Live indicator: poll /v1/status every second
  // ------------------------------------------------------------------------------------

  const live = $('#live');
  const liveText = $('#live-text');

  function flashLive() {
    live.classList.remove('flash');
    void live.offsetWidth; // restart the animation
    live.classList.add('flash');
  }
  live.addEventListener('animationend', () => live.classList.remove('flash'));

  function showReloadError(s) {
    const banner = $('#reload-error');
    const f = s.last_reload_error;
    if (!f || f.kept_generation !== s.generation) {
      banner.hidden = true;
      live.classList.remove('degraded');
      return;
    }
    const diags = Array.isArray(f.diagnostics) ? f.diagnostics : [];
    banner.replaceChildren(...[
      h('strong', null, `Reload failed — generation ${s.generation} stays live.`),
      diags.length
        ? h('ul', null, diags.slice(0, 3).map((d) => h('li', null,
          h('code', null, [d.file, d.line, d.col].filter((x) => x !== undefined && x !== null).join(':')),
          ` ${d.message ?? ''}`,
          d.help ? h('span', { class: 'muted' }, ` (${d.help})`) : null)))
        : null,
      diags.length > 3 ? h('p', { class: 'muted' }, `… and ${diags.length - 3} more`) : null,
    ].filter(Boolean));
    banner.hidden = false;
    live.classList.add('degraded');
  }

  async function pollStatus() {
    try {
      const s = await api('/v1/status', undefined, 5000);
      live.classList.remove('offline');
      $('#hdr-registry').textContent = s.registry ?? '?';
      $('#hdr-version').textContent = s.registry_version ?? '?';
      $('#hdr-rules').textContent = s.rule_set ?? '?';
      liveText.textContent = `generation ${s.generation} live`;
      live.title = [
        s.content_hash ? `content hash ${s.content_hash}` : null,
        isNum(s.reloads) ? `${s.reloads} reloads` : null,
        isNum(s.reload_failures) ? `${s.reload_failures} failed` : null,
        isNum(s.build_ms) ? `built in ${fmt(s.build_ms, 1)} ms` : null,
      ].filter(Boolean).join(' · ');
      showReloadError(s);
      const previous = state.generation;
      state.generation = s.generation;
      if (previous !== null && previous !== s.generation) {
        flashLive();
        await onNewGeneration();
      } else if (previous === null && state.listsError) {
        // the server was unreachable when the page loaded: load everything now
        await onNewGeneration();
      }
    } catch (e) {
      live.classList.add('offline');
      liveText.textContent = state.generation === null ? 'offline' : `generation ${state.generation} · offline`;
      live.title = e.message;
    } finally {
      setTimeout(pollStatus, 1000);
    }
  }

  async function onNewGeneration() {
    try {
      await loadLists();
    } catch (e) {
      state.listsError = e.message;
    }
    for (const v of Object.values(views)) v.stale = true;
    views[state.tab].show();
  }

  // ------------------------------------------------------------------------------------
  // Ladder
  // ------------------------------------------------------------------------------------

  const ladder = (() => {
    const tbody = $('#ladder tbody');
    const status = $('#ladder-status');
    const ticket = latest();
    let lastKey = null;

    const optInt = (sel) => {
      const v = $(sel).value.trim();
      return v === '' ? undefined : Number(v);
    };

    function body() {
      const b = { model: $('#model').value, workload: $('#workload').value.trim() || 'chat' };
      const p = optInt('#prompt-tokens');
      const d = optInt('#decode-tokens');
      if (p !== undefined) b.prompt_tokens = p;
      if (d !== undefined) b.decode_tokens = d;
      b.memory_upgrades = $('#upgrades').checked;
      return b;
    }

    function row(r, maxDecode) {
      const res = r.result || {};
      const f = r.feasibility || {};
      const name = r.label || r.tier;
      const tierCell = h('th', { scope: 'row', title: r.label && r.label !== r.tier ? r.tier : undefined },
        name, r.bw_projected ? h('span', { class: 'tag', title: 'memory bandwidth projected' }, ' (BW-proj)') : null);

      let cells;
      if (res.type === 'Projected') {
        const pct = maxDecode > 0 && isNum(res.decode_tok_s) ? Math.max(0, Math.min(100, (res.decode_tok_s / maxDecode) * 100)) : 0;
        cells = [
          h('td', { class: 'num decode', title: res.regime ? `${res.regime.replace(/_/g, '-')} decode` : undefined },
            h('div', { class: 'barcell' },
              h('span', { class: 'track', 'aria-hidden': 'true' },
                h('span', { class: 'bar', style: { width: `${pct.toFixed(1)}%` } })),
              h('span', { class: 'val' }, withBand(res, 'decode_tok_s', fmtTokS(res.decode_tok_s))))),
          h('td', { class: 'num prefill' }, withBand(res, 'prefill_tok_s', fmtTokS(res.prefill_tok_s))),
          h('td', { class: 'num ttft' }, withBand(res, 'ttft_s', fmtSec(res.ttft_s))),
          h('td', { class: 'num total' }, fmtSec(res.total_s)),
        ];
      } else {
        cells = [h('td', { class: `reason ${res.type === 'WontFit' ? 'bad' : 'warn'}`, colSpan: 4 }, resultReason(res))];
      }

      const verdict = f.verdict || '';
      const bd = f.breakdown || {};
      const fitTitle = [
        isNum(f.required_gb) ? `needs ${fmtGB(f.required_gb)} of ${fmtGB(f.available_gb)}` : null,
        ...Object.entries(bd).filter(([, v]) => isNum(v)).map(([k, v]) => `${k.replace(/_gb$/, '').replace(/_/g, ' ')} ${fmtGB(v)}`),
      ].filter(Boolean).join(' · ');
      const fitCell = h('td', { class: 'fit', title: fitTitle || undefined },
        verdict ? h('span', { class: `verdict v-${verdict}` }, verdict === 'wont_fit' ? "won't fit" : verdict) : '—',
        isNum(f.headroom_gb) ? h('span', { class: 'headroom' }, `${fmtSigned(f.headroom_gb)} GB`) : null);

      let sourceCell;
      if (res.type === 'Projected') {
        const cal = res.calibration_source;
        sourceCell = h('td', { class: 'source', title: cal && cal.reference ? cal.reference : undefined },
          badge(res.badge, res.source),
          h('span', { class: 'src' }, res.source ?? '—'));
      } else {
        sourceCell = h('td', { class: 'source muted' }, '—');
      }

      return h('tr', { dataset: { tier: r.tier, type: res.type || '' }, class: r.bw_projected ? 'bw-projected' : undefined },
        tierCell, ...cells, fitCell, sourceCell);
    }

    async function run() {
      if (!$('#model').value) {
        setStatus(status, state.listsError ? `Cannot load the catalog: ${state.listsError}` : 'No models in the catalog.', state.listsError ? 'error' : undefined);
        return;
      }
      const b = body();
      const key = JSON.stringify(b);
      // `change` after `input` (or a blur) asks again for what is already shown or on its way
      if (key === lastKey && !ladder.stale) return;
      lastKey = key;
      const t = ticket.take();
      setStatus(status, 'Projecting…', 'busy');
      try {
        const resp = await api('/v1/ladder', b);
        if (!ticket.isCurrent(t)) return;
        const rows = (resp && resp.rows) || [];
        const decodes = rows.filter((r) => r.result && r.result.type === 'Projected').map((r) => r.result.decode_tok_s).filter(isNum);
        const maxDecode = decodes.length ? Math.max(...decodes) : 0;
        tbody.replaceChildren(...rows.map((r) => row(r, maxDecode)));
        if (!rows.length) tbody.replaceChildren(h('tr', null, h('td', { colSpan: 7, class: 'muted' }, 'No tiers.')));
        $('#ladder-prov').textContent = provenanceText(resp.provenance, [
          resp.model ? `model ${resp.model}` : null,
          resp.workload_id ? `workload ${resp.workload_id}` : null,
        ]);
        setStatus(status, '');
        ladder.stale = false;
      } catch (e) {
        if (!ticket.isCurrent(t)) return;
        lastKey = null;
        tbody.replaceChildren();
        $('#ladder-prov').textContent = '';
        setStatus(status, e.message, 'error');
      }
    }

    const runSoon = debounce(run, 250);
    $('#ladder-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
    $('#model').addEventListener('change', run);
    $('#upgrades').addEventListener('change', run);
    for (const id of ['#workload', '#prompt-tokens', '#decode-tokens']) {
      $(id).addEventListener('input', runSoon);
      $(id).addEventListener('change', runSoon);
    }

    return { stale: true, show() { if (this.stale) run(); }, run };
  })();

  // ------------------------------------------------------------------------------------
  // Plan
  // ------------------------------------------------------------------------------------

  const plan = (() => {
    const out = $('#plan-result');
    const ticket = latest();
    let lastBody = null;

    function syncFields() {
      const q = $('#question').value;
      for (const f of $$('#plan-form [data-questions]')) {
        const on = f.dataset.questions.split(/\s+/).includes(q);
        f.hidden = !on;
        for (const c of $$('input, select', f)) c.disabled = !on;
      }
    }

    const optNum = (sel) => {
      const v = $(sel).value.trim();
      return v === '' ? undefined : Number(v);
    };

    function body() {
      const q = $('#question').value;
      const b = { question: q };
      if (q === 'max_context') {
        b.model = $('#plan-model').value;
        b.hw = $('#plan-tier').value;
        return b;
      }
      if (q === 'cheapest_tier') b.model = $('#plan-model').value;
      else b.hw = $('#plan-tier').value;
      const minDecode = optNum('#min-decode');
      if (minDecode !== undefined) b.min_decode_tok_s = minDecode;
      const minPrefill = optNum('#min-prefill');
      if (minPrefill !== undefined) b.min_prefill_tok_s = minPrefill;
      const maxTtft = optNum('#max-ttft');
      if (maxTtft !== undefined) b.max_ttft_s = maxTtft;
      const prompt = optNum('#plan-prompt');
      if (prompt !== undefined) b.prompt_tokens = prompt;
      b.confidence = $('#confidence').value;
      if (q === 'cheapest_tier') b.cost = $('#cost').value;
      return b;
    }

    const COST_UNITS = { tdp_watts: (c) => `${fmtAuto(c)} W`, mem_capacity_gb: (c) => `${fmtAuto(c)} GB`, price: (c) => `price ${fmtAuto(c)}` };
    const costText = (field, c) => (isNum(c) ? (COST_UNITS[field] || fmtAuto)(c) : '—');

    function targetsLine(targets) {
      if (!targets || typeof targets !== 'object') return null;
      const label = { confidence: 'judged at', min_decode_tok_s: 'decode ≥', min_prefill_tok_s: 'prefill ≥', max_ttft_s: 'TTFT ≤', prompt_tokens: 'prompt', decode_tokens: 'decode', workload_id: 'workload' };
      const unit = { min_decode_tok_s: ' tok/s', min_prefill_tok_s: ' tok/s', max_ttft_s: ' s', prompt_tokens: ' tokens', decode_tokens: ' tokens' };
      const chips = Object.entries(targets)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => h('span', { class: 'chip' }, `${label[k] || k.replace(/_/g, ' ')} ${isNum(v) ? fmtAuto(v) : String(v)}${unit[k] ?? ''}`));
      return chips.length ? h('p', { class: 'targets' }, h('span', { class: 'muted' }, 'Targets '), chips) : null;
    }

    const meetsCell = (m) => h('td', { class: `meets ${m ? 'ok' : 'bad'}` },
      h('span', { 'aria-hidden': 'true' }, m ? '✓' : '✗'), h('span', { class: 'sr-only' }, m ? 'meets' : 'does not meet'));

    function failuresCell(c) {
      const msgs = (c.failures || []).map((f) => f.message || `${f.target}: need ${f.need}, got ${f.got}`);
      if (!msgs.length && c.result && c.result.type !== 'Projected') msgs.push(resultReason(c.result));
      return h('td', { class: 'failures' }, msgs.length ? h('ul', null, msgs.map((m) => h('li', null, m))) : h('span', { class: 'muted' }, '—'));
    }

    const projected = (r) => (r && r.type === 'Projected' ? r : null);
    /** Decode and TTFT cells, or one cell with the reason there are none. */
    const rateCells = (r) => (projected(r)
      ? [h('td', { class: 'num' }, withBand(r, 'decode_tok_s', fmtTokS(r.decode_tok_s))), h('td', { class: 'num' }, withBand(r, 'ttft_s', fmtSec(r.ttft_s)))]
      : [h('td', { class: `reason ${r && r.type === 'WontFit' ? 'bad' : 'warn'}`, colSpan: 2, title: resultReason(r) || undefined }, shortReason(r))]);

    function cheapest(resp) {
      const a = resp.answer;
      const headline = a
        ? `Cheapest tier meeting the targets: ${a.label || a.tier} (${costText(resp.cost_field, a.cost)})`
        : 'No candidate meets the targets';
      const cands = resp.candidates || [];
      const withBw = cands.some((c) => isNum(c.mem_bandwidth_gbs));
      const rows = cands.map((c) => {
        const isAnswer = a && c.tier === a.tier && c.memory_upgrade === a.memory_upgrade;
        // an upgraded tier's name usually says its memory already; say it when it does not
        const name = c.label || c.tier;
        const upgradeTag = c.memory_upgrade && name === c.base_tier ? h('span', { class: 'tag' }, ` + ${c.memory_upgrade}`) : null;
        const title = c.memory_upgrade ? `${c.base_tier ?? ''} with ${c.memory_upgrade}` : undefined;
        return h('tr', { class: isAnswer ? 'answer' : undefined, dataset: { tier: c.tier } },
          h('th', { scope: 'row', title }, name, upgradeTag),
          h('td', { class: 'num' }, costText(resp.cost_field, c.cost)),
          withBw ? h('td', { class: 'num' }, fmt(c.mem_bandwidth_gbs, 1)) : null,
          ...rateCells(c.result),
          meetsCell(c.meets),
          failuresCell(c));
      });
      return [
        h('p', { class: `headline ${a ? 'ok' : 'bad'}` }, headline),
        h('p', { class: 'muted' }, `${resp.model_key ?? ''}${resp.model_key ? ' · ' : ''}cost: ${resp.cost_field ?? '?'}`),
        targetsLine(resp.targets),
        withBw
          ? table(['Tier', 'Cost', 'Bandwidth GB/s', 'Decode tok/s', 'TTFT s', 'Meets', 'Why not'], [false, true, true, true, true, false, false], rows)
          : table(['Tier', 'Cost', 'Decode tok/s', 'TTFT s', 'Meets', 'Why not'], [false, true, true, true, false, false], rows),
      ];
    }

    function modelsForTier(resp) {
      const answers = resp.answers || [];
      const headline = answers.length
        ? `${answers.length} model${answers.length === 1 ? '' : 's'} meet${answers.length === 1 ? 's' : ''} the targets on ${resp.hw_name}: ${answers.map((m) => m.model_key).join(', ')}`
        : `No candidate meets the targets on ${resp.hw_name ?? 'this tier'}`;
      const rows = (resp.candidates || []).map((c) => {
        return h('tr', { dataset: { model: c.model_key } },
          h('th', { scope: 'row' }, c.model_key),
          h('td', null, c.base_model ?? '—'),
          h('td', null, c.quant_scheme ?? '—', c.requantised ? h('span', { class: 'tag', title: 'requantised from the catalog entry' }, ' (requantised)') : null),
          h('td', { class: 'num' }, fmt(c.bytes_per_param, 3)),
          ...rateCells(c.result),
          meetsCell(c.meets),
          failuresCell(c));
      });
      return [
        h('p', { class: `headline ${answers.length ? 'ok' : 'bad'}` }, headline),
        targetsLine(resp.targets),
        table(['Model', 'Base', 'Quant', 'Bytes/param', 'Decode tok/s', 'TTFT s', 'Meets', 'Why not'],
          [false, false, false, true, true, true, false, false], rows),
      ];
    }

    function feasibilityTable(title, f) {
      if (!f) return null;
      const bd = f.breakdown || {};
      return h('div', { class: 'feas' },
        h('h3', null, title),
        kvTable([
          ['verdict', h('span', { class: `verdict v-${f.verdict}` }, f.verdict === 'wont_fit' ? "won't fit" : f.verdict)],
          ['required', fmtGB(f.required_gb)],
          ['available', fmtGB(f.available_gb)],
          ['headroom', `${fmtSigned(f.headroom_gb)} GB`],
          ...Object.entries(bd).map(([k, v]) => [k.replace(/_gb$/, '').replace(/_/g, ' '), isNum(v) ? fmtGB(v) : String(v)]),
        ]));
    }

    function maxContext(resp) {
      const who = `${resp.model_key} on ${resp.hw_name}`;
      const n = resp.max_context_tokens;
      const headline = {
        memory: `${who}: up to ${fmtInt(n)} tokens of context (limited by memory)`,
        trained_context: `${who}: up to ${fmtInt(n)} tokens of context (limited by the trained context)`,
        does_not_fit: `${who}: does not fit, at any context length`,
        unbounded: `${who}: memory does not limit the context${isNum(n) ? ` (${fmtInt(n)} tokens)` : ''}`,
      }[resp.limited_by] || `${who}: ${isNum(n) ? `${fmtInt(n)} tokens` : 'no answer'}`;
      const tok = (x) => (isNum(x) ? `${fmtInt(x)} tokens` : '—');
      return [
        h('p', { class: `headline ${resp.limited_by === 'does_not_fit' ? 'bad' : 'ok'}` }, headline),
        kvTable([
          ['max context', tok(resp.max_context_tokens)],
          ['max that fits in memory', tok(resp.max_fits_tokens)],
          ['trained context', tok(resp.ctx_len_trained)],
          ['usable context', tok(resp.usable_context_tokens)],
          ['limited by', String(resp.limited_by ?? '—').replace(/_/g, ' ')],
        ]),
        h('div', { class: 'feas-row' },
          feasibilityTable('At the limit', resp.at_limit),
          feasibilityTable('One step beyond', resp.beyond_limit)),
      ];
    }

    async function run() {
      const t = ticket.take();
      const b = body();
      lastBody = b;
      out.classList.remove('error');
      out.classList.add('busy');
      $('#plan-go').disabled = true;
      try {
        const resp = await api('/v1/plan', b);
        if (!ticket.isCurrent(t)) return;
        const render = { cheapest_tier: cheapest, models_for_tier: modelsForTier, max_context: maxContext }[resp.question || b.question];
        out.replaceChildren(...(render ? render(resp) : [h('pre', null, JSON.stringify(resp, null, 2))]).filter(Boolean),
          h('p', { class: 'provenance' }, provenanceText(resp.provenance)));
        plan.stale = false;
      } catch (e) {
        if (!ticket.isCurrent(t)) return;
        out.classList.add('error');
        out.replaceChildren(h('strong', null, e.kind && e.kind !== 'http' ? `${e.kind.replace(/_/g, ' ')}: ` : 'Error: '), e.message);
      } finally {
        if (ticket.isCurrent(t)) {
          out.classList.remove('busy');
          $('#plan-go').disabled = false;
        }
      }
    }

    $('#question').addEventListener('change', syncFields);
    $('#plan-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
    syncFields();

    return { stale: false, show() { if (this.stale && lastBody) run(); else this.stale = false; } };
  })();

  // ------------------------------------------------------------------------------------
  // What-if
  // ------------------------------------------------------------------------------------

  const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d',
    '#ea580c', '#4f46e5', '#0d9488', '#be123c', '#a16207', '#9333ea', '#475569', '#16a34a'];

  const DASHES = [undefined, [8, 4], [2, 3]];

  const whatif = (() => {
    const status = $('#wi-status');
    const chartEl = $('#wi-chart');
    const ticket = latest();
    let chart = null;
    let lastBody = null;
    let lastResp = null;

    const pack = () => state.packs.find((p) => p.name === $('#wi-pack').value);

    function fillPacks() {
      const packs = state.packs;
      $('#wi-hint').hidden = packs.length > 0;
      fillSelect($('#wi-pack'), packs.map((p) => ({ value: p.name, text: p.name })));
      for (const el of $$('#wi-form select, #wi-form input, #wi-form button')) el.disabled = packs.length === 0;
      fillPackFields();
    }

    function fillPackFields() {
      const p = pack();
      fillSelect($('#wi-profile'), ((p && p.profiles) || []).map((n) => ({ value: n, text: n })), p ? p.default_profile ?? undefined : undefined);
      fillSelect($('#wi-slider'), ((p && p.sliders) || []).map((s) => ({
        value: s.name,
        text: s.units ? `${s.name} — ${s.units}` : s.name,
        title: s.category ? `${s.category}` : undefined,
      })));
      showRange();
    }

    function slider() {
      const p = pack();
      return p && (p.sliders || []).find((s) => s.name === $('#wi-slider').value);
    }

    function showRange() {
      const s = slider();
      $('#wi-range').textContent = s
        ? `${s.category ? `${s.category} · ` : ''}range ${fmtAuto(s.min)} – ${fmtAuto(s.max)}${s.units ? ` ${s.units}` : ''}, step ${fmtAuto(s.step)}, default ${fmtAuto(s.default)}`
        : '';
    }

    function body() {
      const steps = $('#wi-steps').value.trim();
      const b = {
        pack: $('#wi-pack').value,
        profile: $('#wi-profile').value,
        slider: $('#wi-slider').value,
      };
      // blank: every value on the slider's own step (the first viable value is one the
      // slider offers); a number: that many evenly spaced points (the reference's sweep)
      if (steps !== '') b.steps = Number(steps);
      return b;
    }

    /** KPI series: one per KPI name (disambiguated by target when a name repeats in a row). */
    function series(rows) {
      const names = [];
      const index = new Map();
      const keyed = rows.map((r) => {
        const seen = new Map();
        const m = new Map();
        for (const k of r.kpis || []) {
          const n = seen.get(k.name) || 0;
          seen.set(k.name, n + 1);
          const key = n === 0 ? String(k.name) : `${k.name} (${k.target ?? n + 1})`;
          if (!index.has(key)) { index.set(key, names.length); names.push(key); }
          m.set(key, k);
        }
        return m;
      });
      const data = names.map((key) => keyed.map((m) => {
        const k = m.get(key);
        return k && isNum(k.margin_pct) ? k.margin_pct : null;
      }));
      // keep only KPIs with at least one margin to draw
      const keep = names.map((_, i) => data[i].some((v) => v !== null));
      return { names: names.filter((_, i) => keep[i]), data: data.filter((_, i) => keep[i]), units: keyed };
    }

    const Y_FLOOR = -200;

    function drawChart(resp) {
      if (chart) { chart.destroy(); chart = null; }
      chartEl.replaceChildren();
      const rows = resp.rows || [];
      if (typeof window.uPlot !== 'function') {
        chartEl.append(h('p', { class: 'error' }, 'The chart library (uPlot) did not load.'));
        return;
      }
      if (!rows.length) {
        chartEl.append(h('p', { class: 'muted' }, 'The sweep returned no points.'));
        return;
      }
      const xs = rows.map((r) => r.value);
      const { names, data } = series(rows);
      const viable = rows.map((r) => !!(r.summary && r.summary.viable));
      const s = slider();
      const units = s && s.units ? ` · ${s.units}` : '';
      let clipped = false;
      const ys = data.map((d) => d.map((v) => {
        if (v !== null && v < Y_FLOOR) { clipped = true; return Y_FLOOR; }
        return v;
      }));

      const hooks = {
        drawClear: [(u) => {
          // shade the slider values at which the design is not viable
          const { ctx } = u;
          const top = u.bbox.top;
          const hgt = u.bbox.height;
          ctx.save();
          ctx.fillStyle = 'rgba(220, 38, 38, 0.07)';
          for (let i = 0; i < xs.length; i++) {
            if (viable[i]) continue;
            const lo = i === 0 ? xs[0] : (xs[i - 1] + xs[i]) / 2;
            const hi = i === xs.length - 1 ? xs[i] : (xs[i] + xs[i + 1]) / 2;
            const x0 = u.valToPos(lo, 'x', true);
            const x1 = u.valToPos(hi, 'x', true);
            ctx.fillRect(x0, top, Math.max(1, x1 - x0), hgt);
          }
          ctx.restore();
        }],
        draw: [(u) => {
          // the zero-margin line
          const { ctx } = u;
          const y = Math.round(u.valToPos(0, 'y', true)) + 0.5;
          ctx.save();
          ctx.strokeStyle = '#111827';
          ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
          ctx.setLineDash([6, 4]);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          ctx.restore();
        }],
      };

      const opts = {
        width: Math.max(480, chartEl.clientWidth || 900),
        height: 380,
        scales: {
          x: { time: false },
          y: {
            range: (u, min, max) => {
              const lo = Math.min(isNum(min) ? min : 0, 0);
              const hi = Math.max(isNum(max) ? max : 0, 0);
              const pad = Math.max(5, (hi - lo) * 0.06);
              return [Math.max(Y_FLOOR, lo - pad), Math.min(110, hi + pad)];
            },
          },
        },
        axes: [
          { label: `${resp.slider || $('#wi-slider').value}${units}`, labelSize: 28, grid: { stroke: '#eef0f3' } },
          { label: 'KPI margin %', labelSize: 28, size: 56, grid: { stroke: '#eef0f3' }, values: (u, vals) => vals.map((v) => `${v}`) },
        ],
        series: [
          { label: resp.slider || 'value', value: (u, v) => (v === null || v === undefined ? '—' : fmtAuto(v)) },
          ...names.map((n, i) => ({
            label: n,
            stroke: PALETTE[i % PALETTE.length],
            dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length],
            width: 2,
            spanGaps: false,
            points: { show: xs.length <= 40, size: 5 },
            value: (u, v) => (v === null || v === undefined ? '—' : `${fmt(v, 1)} %`),
          })),
        ],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks,
      };
      chart = new window.uPlot(opts, [xs, ...ys], chartEl);
      $('#wi-caption').textContent =
        `${names.length} KPI margins (budget − required, % of budget) of profile ${resp.profile ?? body().profile}; dashed line: zero margin; shaded: not viable.` +
        (clipped ? ` Margins below ${Y_FLOOR} % are drawn at ${Y_FLOOR} %.` : '');
    }

    function viabilityTable(resp) {
      const table = $('#wi-viable');
      const rows = resp.rows || [];
      const s = slider();
      const u = s && s.units ? ` ${s.units}` : '';
      const first = rows.find((r) => r.summary && r.summary.viable);
      const nViable = rows.filter((r) => r.summary && r.summary.viable).length;
      let firstText;
      if (!first) firstText = 'never viable in range';
      else if (first === rows[0]) firstText = `${fmtAuto(first.value)}${u} (viable from the start of the range)`;
      else firstText = `${fmtAuto(first.value)}${u}`;
      const start = rows[0] && rows[0].summary;
      const failing = start && Array.isArray(start.failures) ? start.failures.map((f) => (typeof f === 'string' ? f : f.name)).filter(Boolean) : [];
      const base = resp.base_overrides && typeof resp.base_overrides === 'object' ? Object.entries(resp.base_overrides) : [];
      const kv = [
        ['first viable value', h('span', { class: first ? 'ok' : 'bad', id: 'wi-first-viable' }, firstText)],
        ['viable points', `${nViable} of ${rows.length}`],
        ['range swept', rows.length ? `${fmtAuto(rows[0].value)} – ${fmtAuto(rows[rows.length - 1].value)}${u}` : '—'],
        ['failing at the start', failing.length ? failing.join(', ') : 'none'],
      ];
      if (base.length) kv.push(['base overrides', base.map(([k, v]) => `${k} = ${isNum(v) ? fmtAuto(v) : v}`).join(', ')]);
      table.tBodies[0].replaceChildren(...kv.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v))));
      table.hidden = false;
    }

    async function run() {
      const b = body();
      if (!b.pack) { setStatus(status, 'No pack selected.', 'error'); return; }
      const t = ticket.take();
      lastBody = b;
      setStatus(status, 'Sweeping…', 'busy');
      $('#wi-go').disabled = true;
      try {
        const resp = await api('/v1/whatif/sweep', b, 120000);
        if (!ticket.isCurrent(t)) return;
        lastResp = resp;
        setStatus(status, '');
        drawChart(resp);
        viabilityTable(resp);
        whatif.stale = false;
      } catch (e) {
        if (!ticket.isCurrent(t)) return;
        setStatus(status, e.message, 'error');
      } finally {
        if (ticket.isCurrent(t)) $('#wi-go').disabled = state.packs.length === 0;
      }
    }

    $('#wi-pack').addEventListener('change', fillPackFields);
    $('#wi-slider').addEventListener('change', showRange);
    $('#wi-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
    window.addEventListener('resize', debounce(() => {
      if (chart && state.tab === 'whatif') chart.setSize({ width: Math.max(480, chartEl.clientWidth), height: 380 });
    }, 150));

    return {
      stale: false,
      fillPacks,
      show() {
        if (this.stale && lastBody) run();
        else {
          this.stale = false;
          // a chart drawn while hidden has no width: redraw it at the panel's size
          if (chart && lastResp && chart.width !== chartEl.clientWidth) chart.setSize({ width: Math.max(480, chartEl.clientWidth), height: 380 });
        }
      },
    };
  })();

  // ------------------------------------------------------------------------------------
  // Registry
  // ------------------------------------------------------------------------------------

  /** A two-column table of [key, value] pairs (value: a Node or text). */
  function kvTable(pairs, cls = 'kv') {
    return h('table', { class: cls }, h('tbody', null, pairs.map(([k, v]) => h('tr', null,
      h('th', { scope: 'row' }, k), h('td', null, v)))));
  }

  /** A data table with a header row; `num` says which columns are numeric. */
  function table(headers, num, rows) {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', null, h('tr', null, headers.map((t, i) => h('th', { scope: 'col', class: num[i] ? 'num' : undefined }, t)))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colSpan: headers.length, class: 'muted' }, 'No candidates.')))));
  }

  const MAX_DEPTH = 5;
  const MAX_ENTRIES = 400;

  /** Any JSON value as nested key/value tables, depth- and size-limited. */
  function renderValue(v, depth = 0) {
    if (v === null || v === undefined) return h('span', { class: 'v-null' }, 'null');
    if (typeof v === 'number') return h('span', { class: 'v-num' }, fmtAuto(v));
    if (typeof v === 'boolean') return h('span', { class: 'v-bool' }, String(v));
    if (typeof v === 'string') return h('span', { class: 'v-str' }, v);
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    if (!entries.length) return h('span', { class: 'v-null' }, Array.isArray(v) ? '[]' : '{}');
    if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) {
      const shown = v.slice(0, 64).map((x) => (typeof x === 'number' ? fmtAuto(x) : String(x)));
      return h('span', { class: 'v-list' }, shown.join(', '), v.length > 64 ? ` … (${v.length} items)` : '');
    }
    if (depth >= MAX_DEPTH) {
      const s = JSON.stringify(v);
      return h('code', { class: 'v-json', title: s.length > 300 ? s : undefined }, s.length > 300 ? `${s.slice(0, 300)}…` : s);
    }
    const rows = entries.slice(0, MAX_ENTRIES).map(([k, x]) => h('tr', null,
      h('th', { scope: 'row' }, k), h('td', null, renderValue(x, depth + 1))));
    if (entries.length > MAX_ENTRIES) rows.push(h('tr', null, h('td', { colSpan: 2, class: 'muted' }, `… ${entries.length - MAX_ENTRIES} more`)));
    return h('table', { class: `kv depth-${Math.min(depth, 3)}` }, h('tbody', null, rows));
  }

  const registry = (() => {
    const status = $('#reg-status');
    const list = $('#reg-tiers');
    const detail = $('#reg-detail');
    const ticket = latest();
    const tierTicket = latest();
    let reg = null;
    let selected = null;

    function badgeFor(method) {
      const b = reg && reg.tables && reg.tables.badges;
      return (b && b.anchor_sources && b.anchor_sources[method]) || '';
    }

    function calibration(cal) {
      if (!cal) return h('span', { class: 'muted' }, 'none');
      return h('span', null, badge(badgeFor(cal.method), cal.method), h('strong', null, cal.method), ` · ${cal.confidence} confidence — `, cal.reference);
    }

    function renderList() {
      const tiers = (reg && reg.tiers) || [];
      list.replaceChildren(...tiers.map((t) => {
        const method = t.calibration_source ? t.calibration_source.method : null;
        return h('li', null, h('button', {
          type: 'button',
          class: t.name === selected ? 'selected' : undefined,
          dataset: { tier: t.name },
          'aria-pressed': t.name === selected ? 'true' : 'false',
          title: t.file || undefined,
        },
        h('span', { class: 'tname' }, t.name),
        h('span', { class: 'tmeta' }, method ? badge(badgeFor(method), method) : null,
          [method, t.tier_family, t.silicon_class].filter(Boolean).join(' · '))));
      }));
    }

    function renderTables() {
      const tables = (reg && reg.tables) || {};
      fillSelect($('#reg-table'), Object.keys(tables).map((k) => ({ value: k, text: k.replace(/_/g, ' ') })));
      showTable();
    }

    function showTable() {
      const tables = (reg && reg.tables) || {};
      const k = $('#reg-table').value;
      $('#reg-table-view').replaceChildren(k in tables ? renderValue(tables[k]) : h('p', { class: 'muted' }, 'No tables.'));
    }

    async function showTier(name) {
      selected = name;
      for (const b of $$('button', list)) {
        const on = b.dataset.tier === name;
        b.classList.toggle('selected', on);
        b.setAttribute('aria-pressed', on ? 'true' : 'false');
      }
      const t = tierTicket.take();
      detail.classList.add('busy');
      try {
        const spec = await api(`/v1/tiers/${encodeURIComponent(name)}`);
        if (!tierTicket.isCurrent(t)) return;
        const entry = ((reg && reg.tiers) || []).find((x) => x.name === name) || {};
        const cal = spec.calibration_source !== undefined ? spec.calibration_source : entry.calibration_source;
        const rest = Object.fromEntries(Object.entries(spec).filter(([k]) => k !== 'name' && k !== 'calibration_source'));
        detail.replaceChildren(
          h('h2', null, spec.name || name),
          kvTable([
            ['file', entry.file ? h('code', null, isNum(entry.line) ? `${entry.file}:${entry.line}` : entry.file) : '—'],
            ['calibration source', calibration(cal)],
          ], 'kv head'),
          renderValue(rest),
        );
      } catch (e) {
        if (!tierTicket.isCurrent(t)) return;
        detail.replaceChildren(h('p', { class: 'error' }, e.message));
      } finally {
        if (tierTicket.isCurrent(t)) detail.classList.remove('busy');
      }
    }

    async function load() {
      const t = ticket.take();
      setStatus(status, 'Loading…', 'busy');
      try {
        const r = await api('/v1/registry');
        if (!ticket.isCurrent(t)) return;
        reg = r;
        $('#reg-prov').textContent = provenanceText(r.provenance, [`${(r.tiers || []).length} tiers`]);
        setStatus(status, '');
        renderList();
        renderTables();
        registry.stale = false;
        if (selected && (r.tiers || []).some((x) => x.name === selected)) await showTier(selected);
      } catch (e) {
        if (!ticket.isCurrent(t)) return;
        setStatus(status, e.message, 'error');
      }
    }

    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-tier]');
      if (b) showTier(b.dataset.tier);
    });
    $('#reg-table').addEventListener('change', showTable);

    return { stale: true, show() { if (this.stale) load(); } };
  })();

  // ------------------------------------------------------------------------------------
  // Tabs
  // ------------------------------------------------------------------------------------

  const views = { ladder, plan, whatif, registry };
  const TABS = Object.keys(views);

  function showTab(name, focus) {
    if (!TABS.includes(name)) name = 'ladder';
    state.tab = name;
    for (const t of TABS) {
      const on = t === name;
      const tab = $(`#tab-${t}`);
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      $(`#panel-${t}`).hidden = !on;
      if (on && focus) tab.focus();
    }
    if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
    views[name].show();
  }

  for (const t of TABS) $(`#tab-${t}`).addEventListener('click', () => showTab(t));
  $('.tabs').addEventListener('keydown', (e) => {
    const i = TABS.indexOf(state.tab);
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = TABS.length - 1;
    if (j !== null) { e.preventDefault(); showTab(TABS[j], true); }
  });
  window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));

  // ------------------------------------------------------------------------------------
  // Start
  // ------------------------------------------------------------------------------------

  (async () => {
    pollStatus();
    try {
      await loadLists();
    } catch (e) {
      state.listsError = e.message;
    }
    showTab(location.hash.slice(1) || 'ladder');
  })();
})();
