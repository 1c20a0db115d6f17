/**
 * The processor the figures were measured on, as exactly as the machine says: a virtual machine's
 * CPU often names itself only "AMD EPYC", and two such machines ran the Kafka Streams JVM at 5.4
 * and 15.3 ms of CPU per 1,000 records the same day (load-tests/README.md). Linux's /proc/cpuinfo
 * adds the family, model and stepping, and whether AVX-512 is there.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export function cpuModel(): string {
  const name = cpus()[0]?.model ?? 'unknown';
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return name;
  }
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const family = field('cpu family');
  const model = field('model');
  const stepping = field('stepping');
  const avx512 = / avx512f( |$)/m.test(field('flags') ?? '') ? ', AVX-512' : '';
  return family && model ? `${name}, family ${family} model ${model}${stepping ? ` stepping ${stepping}` : ''}${avx512}` : name;
}
