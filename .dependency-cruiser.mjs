// The layers of src/ and the rule that keeps them: `npm run lint` runs dependency-cruiser with this file.
// A module may import modules of its own folder and of any layer below its own in the same stack. It may not
// import a layer above, nor a sibling folder of its own layer (unless ALSO_ALLOWED names the pair). Type-only
// imports count: a layer that needs a higher layer's types depends on it as much as on its values. No import
// cycle is allowed anywhere in src/, even inside one folder.

/** The library, lowest layer first. Each entry: the folders (or top-level files) of src/ in it, and why there. */
export const LIBRARY_LAYERS = [
  { folders: ['util'], why: 'Helpers that know nothing of Kafka or of txstream: any layer may use them.' },
  { folders: ['errors'], why: "txstream's error classes: every layer throws or classifies them, so they depend on nothing of ours." },
  {
    folders: ['kafka', 'serde'],
    why: 'Adapters to the wire: KafkaJS clients, headers and offsets; value codecs and the schema registry. Neither reads our settings or needs the other.',
  },
  {
    folders: ['config'],
    why: 'The settings: schema, defaults and loading, including the error policy and PostgreSQL sink a pipeline file declares. Settings describe; nothing here runs.',
  },
  {
    folders: ['pipeline', 'security'],
    why: 'What a pipeline is (definition, records, lineage, derived topic names, loading definitions) and the TLS/SASL client options: both built from settings, independent of each other.',
  },
  {
    folders: ['observability'],
    why: 'Logs, metrics, stats and the ops endpoint: the runtime layers above report through them; they read pipeline definitions only to name what they report.',
  },
  {
    folders: ['routing', 'commit', 'sink'],
    why: "What becomes of a handler's result: a failure routed, outputs and offsets committed, rows written to a database. Each stands alone, but for ALSO_ALLOWED.",
  },
  {
    folders: ['worker', 'topics', 'audit'],
    why: "The programs the commands run: the worker runs pipelines; topics plans and applies a project's topics; audit counts exactly-once from the topics. None needs another.",
  },
  {
    folders: ['console'],
    why: "The operator console: a web server over what the commands read and do (lag, dead letters, replay, audit), through the same modules. A program like the commands, one layer under cli only because `txstream console` starts it.",
  },
  {
    folders: ['cli', 'index.ts'],
    why: 'The entry points: the commands, and the public API (index.ts) users write pipelines with. Nothing of ours imports them.',
  },
];

/**
 * Local servers for development, demos and tests: a stack beside the library, lowest first. A deployed worker never
 * starts one, so no library layer may import them; only the commands named in ALSO_ALLOWED do.
 */
export const LOCAL_SERVER_LAYERS = [
  { folders: ['local-server'], why: 'Starting, watching and stopping a detached local server process; free ports; its log.' },
  { folders: ['local-jvm'], why: 'Running Java programs and fetching their jars with Maven, for the servers that are JVM programs.' },
  {
    folders: ['local-kafka', 'local-registry', 'local-postgres', 'local-prometheus'],
    why: 'One local server each: broker, schema registry, PostgreSQL, Prometheus. Independent of each other.',
  },
];

/** Imports the layering would forbid, each needed by design. */
export const ALSO_ALLOWED = [
  {
    from: 'sink',
    to: 'commit',
    why: 'A sink is a commit strategy: it commits the input offsets in its own database transaction, and sends retry copies through the shared producer.',
  },
  { from: 'cli', to: 'local-kafka', why: '`txstream demo` starts a local broker when KAFKA_BROKERS names none.' },
  { from: 'cli', to: 'local-postgres', why: '`txstream demo --sink postgres` starts a local PostgreSQL when TXSTREAM_POSTGRES_URL names none.' },
];

// ---------------------------------------------------------------------------------------------------------------------

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A folder of src/ matches its files; a top-level file of src/ (index.ts) matches itself. */
const pathOf = (name) => (name.endsWith('.ts') ? `^src/${escape(name)}$` : `^src/${escape(name)}/`);

function layerRules(stack) {
  return stack.flatMap((layer, index) =>
    layer.folders.map((folder) => {
      const below = stack.slice(0, index).flatMap((lower) => lower.folders);
      const also = ALSO_ALLOWED.filter((pair) => pair.from === folder).map((pair) => pair.to);
      return { folder, why: layer.why, allowed: [folder, ...below, ...also] };
    }),
  );
}

/** One rule per folder: from its files to any file of src/ outside the folders it may import. */
function forbiddenFor({ folder, why, allowed }) {
  const rule = (from, toNot) => ({
    name: `layers/${folder}`,
    severity: 'error',
    comment: `${folder} may import only ${allowed.join(', ')}. ${why}`,
    from,
    to: { path: '^src/', pathNot: toNot },
  });
  return [rule({ path: pathOf(folder) }, allowed.map(pathOf))];
}

const placed = [...LIBRARY_LAYERS, ...LOCAL_SERVER_LAYERS].flatMap((layer) => layer.folders);

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...[...layerRules(LIBRARY_LAYERS), ...layerRules(LOCAL_SERVER_LAYERS)].flatMap(forbiddenFor),
    {
      name: 'layers/unplaced',
      severity: 'error',
      comment: 'Every folder of src/ has a layer: add a new one to LIBRARY_LAYERS or LOCAL_SERVER_LAYERS.',
      from: { path: '^src/', pathNot: placed.map(pathOf) },
      to: { path: '^src/' },
    },
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'Modules in a cycle can only be understood, tested and loaded together: move what both need into a third module.',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    // Type-only imports are dependencies too (see the top of this file).
    tsPreCompilationDeps: true,
    // Resolves our `./x.js` imports to the `x.ts` files, as tsc does.
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
