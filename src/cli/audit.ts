import type { Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { formatPipelineAudit } from '../audit/pipeline-audit.js';
import { AuditTopicsMissingError } from '../audit/pipeline-audit-read.js';
import { describeAuditTopics, describeReaderGroup, runPipelineAudit } from '../audit/run-audit.js';
import { BrokerUnreachableError, ConfigError, KafkaSecurityError } from '../errors/index.js';
import { createKafka } from '../kafka/client.js';
import { createLogger } from '../observability/logger.js';
import { resolvePipeline } from '../pipeline/definition.js';
import { buildKafkaSecurity, describeConnectionFailure } from '../security/index.js';
import { addSettingOptions, EXIT, loadRun, timeoutOption, wholeNumberOption } from './run.js';

/**
 * `txstream audit <pipeline>`: what became of every input record, by lineage, read with
 * read_committed up to the end offsets as of the start. Exit 1 on any missing or duplicated input.
 */
export function registerAuditCommand(program: Command): void {
  addSettingOptions(
    program
      .command('audit')
      .argument('<pipeline>', 'pipeline name')
      .description("count by lineage where each input of a pipeline ended (output, retry tier, dead-letter); exit 1 on missing or duplicated"),
  )
    .option('--output <topic...>', 'more output topics to read (outputs that name their own topic)')
    .option('--problems <count>', 'missing or duplicated inputs to list', String(DEFAULTS.auditProblems))
    .option('--timeout <ms>', 'give up when the read has not reached the end offsets by then', String(DEFAULTS.auditReadTimeoutMs))
    .option('--allow-skipped', 'when the policy can skip records, inputs without any trace do not fail the audit (they are still listed)')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: Record<string, unknown>) => {
      process.exitCode = await auditCommand(name, options);
    });
}

async function auditCommand(name: string, options: Record<string, unknown>): Promise<number> {
  const problemLimit = wholeNumberOption(options.problems, '--problems', 0);
  const timeoutMs = timeoutOption(options.timeout, '--timeout');
  const { settings, pipelines, baseDir } = await loadRun({ ...options, pipeline: name });
  const definition = pipelines.find((pipeline) => pipeline.name === name);
  if (!definition) throw new ConfigError(`no pipeline named '${name}'`);
  const pipeline = resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId });
  const { ssl, sasl } = buildKafkaSecurity(settings.security, { baseDir });
  const kafka = createKafka({
    brokers: settings.brokers,
    clientId: `${settings.clientId}-audit`,
    logger: createLogger({ level: 'error' }),
    kafka: { ssl, sasl },
  });
  // A clear line, not a stack, when the brokers do not answer or refuse us.
  const probe = kafka.admin();
  await probe.connect().catch((error: unknown) => {
    const failure = describeConnectionFailure(error, { brokers: settings.brokers, sasl });
    throw failure.kind === 'unreachable'
      ? new BrokerUnreachableError(settings.brokers, { cause: error })
      : new KafkaSecurityError(failure.message, failure.kind, { cause: error });
  });
  await probe.disconnect();
  let run;
  try {
    run = await runPipelineAudit(kafka, pipeline, { extraOutputs: (options.output as string[] | undefined) ?? [], problemLimit, timeoutMs, allowSkipped: options.allowSkipped === true });
  } catch (error) {
    if (error instanceof AuditTopicsMissingError) throw new ConfigError(error.message, `pipeline '${name}'`);
    throw error;
  }
  const { topics, audit } = run;
  if (options.json) {
    console.log(JSON.stringify({ pipeline: name, groupId: pipeline.groupId, topics, ...audit, readerGroup: run.readerGroup, readerGroupDeleted: run.readerGroupDeleted }, null, 2));
  } else {
    console.log(formatPipelineAudit(audit, { pipeline: name, groupId: pipeline.groupId, topics: describeAuditTopics(topics) }));
    console.error(`txstream audit: ${describeReaderGroup(run)}`);
  }
  return audit.ok ? EXIT.ok : EXIT.failed;
}
