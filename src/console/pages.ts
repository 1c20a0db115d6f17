import type { ReplayResult } from '../routing/replay.js';
import type { GroupStatus } from '../observability/group-status.js';
import { type DeadLetterFilter, type DeadLetterPage, replayFiltersForRecord, replayFiltersOf } from './dead-letters.js';
import { type Html, html, jsonAttribute } from './html.js';
import type { PipelineView } from './pipeline-view.js';
import type { AuditView, DeadLetterDetail, DeadLetterIndexView, LagState, TierView } from './source.js';
import type { ValueView } from './value-view.js';

/** What every page needs to know of the console: whether changes need a token (and the value to send), whether replay is on. */
export interface PageContext {
  /** The value pages send in X-Console-Token on changes; undefined when the console has no token. */
  readonly csrf?: string;
  readonly allowReplay: boolean;
  readonly pipelines: readonly PipelineView[];
}

export const TOKEN_HEADER = 'x-console-token';

/**
 * htmx's settings: no eval, no scripts from swapped content, requests to the console only, no inline indicator
 * style (the CSP refuses it); and refusals (4xx, 5xx) are swapped in like answers, so a refused replay says why.
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[2345]..', swap: true },
  ],
});

function layout(context: PageContext, title: string, body: Html): Html {
  const headers = context.csrf === undefined ? undefined : jsonAttribute({ [TOKEN_HEADER]: context.csrf });
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='${HTMX_CONFIG}'>
<title>${title} · txstream console</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/htmx.min.js" defer></script>
<script src="/assets/uPlot.iife.min.js" defer></script>
<script src="/assets/console.js" defer></script>
</head>
<body${headers === undefined ? '' : html` hx-headers="${headers}"`}>
<header>
<a class="brand" href="/">txstream console</a>
<nav>${context.pipelines.map((pipeline) => html`<a href="/pipelines/${encodeURIComponent(pipeline.name)}">${pipeline.name}</a> <a href="/pipelines/${encodeURIComponent(pipeline.name)}/dead-letters">dead letters</a> `)}</nav>
<span class="mode">${context.allowReplay ? 'replay on' : 'read-only'}</span>
</header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function loginPage(problem?: string): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>txstream console</title><link rel="stylesheet" href="/assets/console.css"></head>
<body><main class="login">
<h1>txstream console</h1>
<form method="post" action="/login">
<label>Console token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Open</button>
</form>
${problem ? html`<p class="error">${problem}</p>` : ''}
</main></body></html>
`;
}

export function overviewPage(context: PageContext, lags: ReadonlyMap<string, LagState>): Html {
  return layout(
    context,
    'Pipelines',
    html`<h1>Pipelines</h1>
<table class="grid">
<thead><tr><th>Pipeline</th><th>Group</th><th>Inputs</th><th>Outputs</th><th>State</th><th class="num">Total lag</th><th></th></tr></thead>
<tbody>
${context.pipelines.map((pipeline) => {
  const lag = lags.get(pipeline.name);
  return html`<tr><td><a href="/pipelines/${encodeURIComponent(pipeline.name)}">${pipeline.name}</a></td><td>${pipeline.groupId}</td><td>${pipeline.inputs.join(', ')}</td><td>${pipeline.outputs.join(', ') || '(none)'}</td><td>${lag?.status?.state ?? '?'}</td><td class="num">${lag?.status?.totalLag ?? '?'}</td><td><a href="/pipelines/${encodeURIComponent(pipeline.name)}/dead-letters">dead letters</a></td></tr>`;
})}
</tbody>
</table>`,
  );
}

export function pipelinePage(context: PageContext, pipeline: PipelineView, lag: LagState): Html {
  const base = `/pipelines/${encodeURIComponent(pipeline.name)}`;
  return layout(
    context,
    pipeline.name,
    html`<h1>Pipeline ${pipeline.name}</h1>
<section class="definition">
<dl>
<dt>Inputs</dt><dd>${pipeline.inputs.join(', ')}</dd>
<dt>Outputs</dt><dd>${pipeline.outputs.join(', ') || '(none)'}${pipeline.sink ? html` · ${pipeline.sink} sink` : ''}</dd>
<dt>Retry tiers</dt><dd>${pipeline.retryTiers.length === 0 ? '(none)' : pipeline.retryTiers.map((tier) => html`<div>${tier.input}: ${tier.topics.join(' → ')}</div>`)}</dd>
<dt>Dead letters</dt><dd><a href="${base}/dead-letters">${pipeline.deadLetterTopics.join(', ')}</a></dd>
<dt>Commit strategy</dt><dd>${pipeline.strategy}</dd>
<dt>Error policy</dt><dd>${pipeline.errorPolicy}</dd>
<dt>Concurrency</dt><dd>${pipeline.concurrency}</dd>
<dt>Consumer group</dt><dd>${pipeline.groupId}</dd>
</dl>
</section>
<section>
<h2>Group and lag</h2>
<div id="status" hx-get="${base}/status" hx-trigger="every 2s" hx-swap="innerHTML">${statusFragment(lag)}</div>
<h2>Total lag over time</h2>
<div class="chart" data-lag-chart="${base}/lag.json"></div>
</section>
<section>
<h2>Retry tiers</h2>
<div id="tiers" hx-get="${base}/retry-tiers" hx-trigger="load, every 10s" hx-swap="innerHTML"><p class="muted">reading…</p></div>
</section>
<section>
<h2>Audit</h2>
<p class="muted">Counts by lineage where every input ended (txstream audit): reads every topic of the pipeline to its end.</p>
<button hx-post="${base}/audit" hx-target="#audit" hx-swap="innerHTML" hx-disabled-elt="this">Run the audit</button>
<div id="audit"></div>
</section>`,
  );
}

export function statusFragment(lag: LagState): Html {
  const status: GroupStatus | undefined = lag.status;
  if (!status) return html`<p class="error">${lag.error ?? 'not read yet'}</p>`;
  return html`<p>Group <code>${status.groupId}</code> is <strong>${status.state}</strong>, ${status.members.length} member(s), total lag <strong class="total-lag">${status.totalLag}</strong>${lag.readAt ? html` <span class="muted">(read ${new Date(lag.readAt).toISOString()})</span>` : ''}${lag.error ? html` <span class="error">latest reading failed: ${lag.error}</span>` : ''}</p>
<ul class="members">${status.members.map((member) => html`<li><code>${member.memberId}</code> (${member.clientId}@${member.host}): ${member.partitions.join(', ') || 'nothing assigned'}</li>`)}</ul>
<table class="grid lag">
<thead><tr><th>Topic</th><th class="num">Partition</th><th class="num">Committed</th><th class="num">End</th><th class="num">Lag</th><th>Member</th></tr></thead>
<tbody>${status.partitions.map((entry) => html`<tr><td>${entry.topic}</td><td class="num">${entry.partition}</td><td class="num">${entry.committed ?? '-'}</td><td class="num">${entry.end}</td><td class="num${entry.lag > 0 ? ' lagging' : ''}">${entry.lag}</td><td>${entry.member ?? '-'}</td></tr>`)}</tbody>
</table>`;
}

export function tiersFragment(tiers: readonly TierView[], now: number): Html {
  if (tiers.length === 0) return html`<p class="muted">This pipeline has no retry tiers (its error policy does not retry through topics).</p>`;
  return html`<table class="grid">
<thead><tr><th>Tier</th><th>Topic</th><th class="num">Waiting</th><th>Next due</th></tr></thead>
<tbody>${tiers.map(
    (tier) =>
      html`<tr><td>${tier.tier}</td><td>${tier.topic}</td><td class="num">${tier.waiting}</td><td>${
        tier.due.length === 0 ? '-' : html`${dueText(tier.due[0] as number, now)}${tier.due.length > 1 ? html` … ${dueText(tier.due[tier.due.length - 1] as number, now)} (${tier.due.length} read)` : ''}`
      }</td></tr>`,
  )}</tbody></table>`;
}

function dueText(dueAt: number, now: number): string {
  const seconds = Math.round((dueAt - now) / 1000);
  return `${new Date(dueAt).toISOString()} (${seconds <= 0 ? 'due now' : `in ${seconds} s`})`;
}

export function deadLettersPage(context: PageContext, pipeline: PipelineView, index: DeadLetterIndexView, filter: DeadLetterFilter, page: DeadLetterPage, problems: readonly string[]): Html {
  const base = `/pipelines/${encodeURIComponent(pipeline.name)}`;
  const value = (field: keyof DeadLetterFilter) => filter[field] ?? '';
  const query = (pageNumber: number) => new URLSearchParams({ ...filter, page: String(pageNumber) }).toString();
  const replay = replayFiltersOf(filter);
  return layout(
    context,
    `${pipeline.name}: dead letters`,
    html`<h1>Dead letters of ${pipeline.name}</h1>
<p>${index.total} record(s) in ${pipeline.deadLetterTopics.join(', ')}${index.capped ? html` <span class="error">(the list holds the first ${index.entries.length}; the counts cover all)</span>` : ''} <span class="muted">read ${new Date(index.readAt).toISOString()}</span></p>
<div class="counts">
<div><h3>By reason</h3>${counts(index.byReason, base, 'reason')}</div>
<div><h3>By error class</h3>${counts(index.byErrorClass, base, 'errorClass')}</div>
</div>
<form class="filters" method="get" action="${base}/dead-letters">
<label>Reason <input name="reason" value="${value('reason')}" list="reasons"></label>
<datalist id="reasons">${Object.keys(index.byReason).map((name) => html`<option value="${name}">`)}</datalist>
<label>Error class <input name="errorClass" value="${value('errorClass')}" list="classes"></label>
<datalist id="classes">${Object.keys(index.byErrorClass).map((name) => html`<option value="${name}">`)}</datalist>
<label>Error message contains <input name="message" value="${value('message')}"></label>
<label>Key <input name="key" value="${value('key')}"></label>
<label>Original topic <input name="originalTopic" value="${value('originalTopic')}"></label>
<label>Partition <input name="originalPartition" value="${value('originalPartition')}" inputmode="numeric" size="4"></label>
<label>Offset <input name="originalOffset" value="${value('originalOffset')}" inputmode="numeric" size="8"></label>
<label>Failed from (UTC) <input type="datetime-local" step="1" name="from" value="${value('from')}"></label>
<label>before <input type="datetime-local" step="1" name="to" value="${value('to')}"></label>
<button type="submit">Filter</button> <a href="${base}/dead-letters">clear</a>
</form>
${problems.map((problem) => html`<p class="error">${problem}</p>`)}
<p class="matched">${page.matched} match${page.matched === 1 ? '' : 'es'} · page ${page.page} of ${page.pages} ${page.page > 1 ? html`<a href="?${query(page.page - 1)}">newer</a>` : ''} ${page.page < page.pages ? html`<a href="?${query(page.page + 1)}">older</a>` : ''}</p>
${context.allowReplay ? html`<form class="selection" hx-post="${base}/replay" hx-target="next .replay-result" hx-swap="innerHTML" hx-disabled-elt="find button">
<input type="hidden" name="selection" value="true">` : ''}
<table class="grid dead-letters">
<thead><tr>${context.allowReplay ? html`<th></th>` : ''}<th>Failed at</th><th>Reason</th><th>Error class</th><th>Error message</th><th>Key</th><th>Original</th><th>Dead letter</th></tr></thead>
<tbody>${page.entries.map(
      (entry) =>
        html`<tr>${context.allowReplay ? html`<td>${entry.lineage ? html`<input type="checkbox" name="filter" value="lineage=${entry.lineage}" aria-label="select ${entry.topic}/${entry.partition}/${entry.offset}">` : ''}</td>` : ''}<td>${entry.failedAt}</td><td>${entry.reason}</td><td class="error-class">${entry.errorClass}</td><td class="message">${entry.errorMessage}</td><td>${entry.key}</td><td>${entry.originalTopic}/${entry.originalPartition}/${entry.originalOffset}</td><td><a class="open" href="${base}/dead-letters/${encodeURIComponent(entry.topic)}/${entry.partition}/${entry.offset}">${entry.topic}/${entry.partition}/${entry.offset}</a></td></tr>`,
    )}</tbody>
</table>
${context.allowReplay ? html`<p class="selection-actions">Selected records (by their lineage): <label><input type="checkbox" name="skipUnmatched" value="true"> pass over records not selected</label>
<button type="submit" name="dryRun" value="true" class="dry-run">Preview selected</button>
<button type="submit" name="dryRun" value="false" class="replay-now">Replay selected</button></p>
</form>
<div class="replay-result" aria-live="polite"></div>` : ''}
${
  context.allowReplay
    ? html`<section class="replay">
<h2>Replay what this filter selects</h2>
${
  'refused' in replay
    ? html`<p class="muted">${replay.refused}</p>`
    : html`<p>Replay filters: <code>${replay.filters.join(' ') || '(none: every dead letter)'}</code>. Each partition's replay stops at the first record the filters leave out, unless "pass over" is ticked (passed-over records are never replayed by a later replay).</p>
${replayForm(base, replay.filters)}`
}
</section>`
    : ''
}`,
  );
}

function counts(values: Record<string, number>, base: string, field: 'reason' | 'errorClass'): Html {
  const sorted = Object.entries(values).sort(([, a], [, b]) => b - a);
  if (sorted.length === 0) return html`<p class="muted">none</p>`;
  return html`<ul>${sorted.map(([name, count]) => html`<li><a href="${base}/dead-letters?${new URLSearchParams({ [field]: name }).toString()}">${name}</a> <span class="num">${count}</span></li>`)}</ul>`;
}

function replayForm(base: string, filters: readonly string[]): Html {
  return html`<form class="replay-form" hx-post="${base}/replay" hx-target="next .replay-result" hx-swap="innerHTML" hx-disabled-elt="find button">
${filters.map((filter) => html`<input type="hidden" name="filter" value="${filter}">`)}
<label><input type="checkbox" name="skipUnmatched" value="true"> pass over records the filters leave out</label>
<button type="submit" name="dryRun" value="true" class="dry-run">Preview (dry run)</button>
<button type="submit" name="dryRun" value="false" class="replay-now">Replay</button>
</form>
<div class="replay-result" aria-live="polite"></div>`;
}

export function deadLetterPage(context: PageContext, pipeline: PipelineView, detail: DeadLetterDetail, value: ValueView): Html {
  const base = `/pipelines/${encodeURIComponent(pipeline.name)}`;
  const { entry } = detail;
  const stack = detail.headers['txstream-error-stack'];
  const filters = replayFiltersForRecord(entry);
  return layout(
    context,
    `${entry.topic}/${entry.partition}/${entry.offset}`,
    html`<p><a href="${base}/dead-letters">← dead letters of ${pipeline.name}</a></p>
<h1>Dead letter ${entry.topic}/${entry.partition}/${entry.offset}</h1>
<dl class="detail">
<dt>Reason</dt><dd>${entry.reason}</dd>
<dt>Error class</dt><dd class="error-class">${entry.errorClass}</dd>
<dt>Error message</dt><dd><pre class="error-message">${detail.headers['txstream-error-message'] ?? ''}</pre></dd>
<dt>Original record</dt><dd>${entry.originalTopic}/${entry.originalPartition}/${entry.originalOffset}</dd>
<dt>Key</dt><dd><pre class="key">${entry.key}</pre></dd>
<dt>Failed at</dt><dd>${entry.failedAt}</dd>
<dt>Lineage</dt><dd><code>${detail.headers['txstream-lineage'] ?? '(none)'}</code></dd>
</dl>
<h2>Value <span class="muted">(${value.kind}, ${value.bytes} bytes${value.cut ? ', cut: the first part is shown' : ''})</span></h2>
<pre class="value">${value.text}</pre>
${stack ? html`<h2>Stack</h2><pre class="stack">${stack}</pre>` : ''}
<h2>Headers</h2>
<table class="grid headers"><thead><tr><th>Name</th><th>Value</th></tr></thead>
<tbody>${Object.entries(detail.headers).map(([name, text]) => html`<tr><td>${name}</td><td><pre>${text}</pre></td></tr>`)}</tbody></table>
${
  context.allowReplay
    ? html`<section class="replay"><h2>Replay this record</h2>
${
  filters
    ? html`<p>Copies it back to <code>${entry.originalTopic}</code>, exactly once, through the same replay as <code>txstream dlt replay --filter ${filters.join(' --filter ')}</code>. A replay goes through each dead-letter partition in order: it stops at the first record it does not replay, unless "pass over" is ticked.</p>${replayForm(base, filters)}`
    : html`<p class="error">This record has no original topic, partition and offset headers: it cannot be chosen on its own.</p>`
}
</section>`
    : ''
}`,
  );
}

export function replayResultFragment(result: ReplayResult, dryRun: boolean): Html {
  return html`<div class="result ${dryRun ? 'dry' : 'done'}">
<p class="summary">${dryRun ? `dry run: ${result.matched} of ${result.scanned} dead-letter record(s) would be replayed` : `replayed ${result.replayed} of ${result.scanned} dead-letter record(s) scanned`}</p>
${result.stoppedAt.map((stop) => html`<p>stopped at ${stop.topic}/${stop.partition}/${stop.offset}: ${stop.reason} (not replayed, not passed over)</p>`)}
${result.passedOver > 0 ? html`<p>passed over ${result.passedOver} record(s): ${result.passedOverSample.map((skipped) => `${skipped.topic}/${skipped.partition}/${skipped.offset}`).join(', ')}</p>` : ''}
</div>`;
}

export function auditFragment(audit: AuditView): Html {
  return html`<div class="audit ${audit.ok ? 'ok' : 'failed'}"><p class="verdict">${audit.ok ? 'OK: every processed input has exactly one ending' : 'FAILED: missing or duplicated inputs'}</p><pre>${audit.text}</pre></div>`;
}

export function errorFragment(message: string): Html {
  return html`<p class="error refusal">${message}</p>`;
}

export function errorPage(context: PageContext, status: number, message: string): Html {
  return layout(context, String(status), html`<h1>${status}</h1><p class="error">${message}</p>`);
}
