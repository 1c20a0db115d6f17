import type { Command } from 'commander';
import { settingsOf } from '../config/settings.js';
import { formatGroupStatus, type GroupStatus, readGroupStatus } from '../observability/group-status.js';
import { resolvePipeline } from '../pipeline/definition.js';
import { commandKafka, connectAdmin } from './connect.js';
import { addSettingOptions, EXIT, loadRun } from './run.js';

/** `txstream status` and `txstream lag`: the pipelines' consumer groups as the brokers see them. */
export function registerOpsCommands(program: Command): void {
  // They read the connection and which pipelines (and their groups): nothing of the worker's tuning.
  const reads = settingsOf('connection', 'pipelines');
  addSettingOptions(program.command('status').description('group state, members, assignment and lag per partition of every pipeline'), reads).action(
    async (options: Record<string, unknown>) => {
      console.log((await statuses(options)).map(formatGroupStatus).join('\n\n'));
      process.exitCode = EXIT.ok;
    },
  );
  addSettingOptions(program.command('lag').description('lag per partition of every pipeline'), reads)
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

async function statuses(options: Record<string, unknown>): Promise<GroupStatus[]> {
  const { settings, pipelines, baseDir } = await loadRun(options);
  const admin = await connectAdmin(commandKafka(settings, baseDir, 'ops'), settings);
  try {
    const resolved = pipelines.map((definition) => resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId }));
    return await Promise.all(resolved.map((pipeline) => readGroupStatus(admin, pipeline)));
  } finally {
    await admin.disconnect();
  }
}
