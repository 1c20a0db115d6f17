import type { Command } from 'commander';
import { createKafka } from '../kafka/client.js';
import { formatGroupStatus, readGroupStatus } from '../observability/group-status.js';
import { createLogger } from '../observability/logger.js';
import { resolvePipeline } from '../pipeline/definition.js';
import { addSettingOptions, EXIT, loadRun } from './run.js';

/** `txstream status` and `txstream lag`: the pipelines' consumer groups as the brokers see them. */
export function registerOpsCommands(program: Command): void {
  addSettingOptions(program.command('status').description('group state, members, assignment and lag per partition of every pipeline')).action(
    async (options: Record<string, unknown>) => {
      for (const status of await statuses(options)) console.log(formatGroupStatus(status));
      process.exitCode = EXIT.ok;
    },
  );
  addSettingOptions(program.command('lag').description('lag per partition of every pipeline'))
    .option('--json', 'machine-readable output')
    .action(async (options: Record<string, unknown>) => {
      const all = await statuses(options);
      if (options.json) {
        console.log(JSON.stringify(all.map(({ pipeline, groupId, totalLag, partitions }) => ({ pipeline, groupId, totalLag, partitions })), null, 2));
      } else {
        for (const status of all) {
          console.log(`${status.pipeline} (${status.groupId}): total lag ${status.totalLag}`);
          for (const entry of status.partitions) console.log(`  ${entry.topic}[${entry.partition}] ${entry.lag}`);
        }
      }
      process.exitCode = EXIT.ok;
    });
}

async function statuses(options: Record<string, unknown>) {
  const { settings, pipelines } = await loadRun(options);
  const kafka = createKafka({ brokers: settings.brokers, clientId: `${settings.clientId}-ops`, logger: createLogger({ level: 'error' }) });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const resolved = pipelines.map((definition) => resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId }));
    return await Promise.all(resolved.map((pipeline) => readGroupStatus(admin, pipeline)));
  } finally {
    await admin.disconnect();
  }
}
