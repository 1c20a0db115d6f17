/**
 * What one process costs, read from Linux's /proc: its established TCP connections to the
 * brokers and its peak resident memory. Used on the measured worker (a child process, so the
 * figures are its own and not the harness's) and on the Kafka Streams JVM.
 *
 * /proc/<pid>/net/tcp lists every socket of the process's network namespace, not only its own,
 * so a connection counts only when its inode is also one of the process's open file
 * descriptors (/proc/<pid>/fd/* → "socket:[inode]").
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TcpSocket {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The kernel's state code: 1 is ESTABLISHED. */
  readonly state: number;
  readonly inode: number;
}

export const TCP_ESTABLISHED = 1;

/** An address of /proc/net/tcp (8 hex digits, little-endian IPv4) or tcp6 (32 hex digits, four little-endian words). */
export function decodeProcAddress(hex: string): string {
  if (hex.length === 8) {
    const bytes = [6, 4, 2, 0].map((at) => parseInt(hex.slice(at, at + 2), 16));
    return bytes.join('.');
  }
  if (hex.length === 32) {
    const words = [0, 8, 16, 24].map((at) => hex.slice(at, at + 8));
    // Each 32-bit word is stored in host (little-endian) order.
    const bytes = words.flatMap((word) => [6, 4, 2, 0].map((at) => parseInt(word.slice(at, at + 2), 16)));
    // IPv4-mapped (::ffff:a.b.c.d), as a JVM's dual-stack sockets report IPv4 peers.
    if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
    return groups.join(':');
  }
  throw new Error(`not a /proc/net/tcp address: '${hex}'`);
}

/** Parses /proc/<pid>/net/tcp or tcp6 (a header line, then one socket per line). */
export function parseProcNetTcp(text: string): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [local, remote, state] = [fields[1], fields[2], fields[3]] as [string, string, string];
    const [localHex, localPortHex] = local.split(':') as [string, string];
    const [remoteHex, remotePortHex] = remote.split(':') as [string, string];
    sockets.push({
      localAddress: decodeProcAddress(localHex),
      localPort: parseInt(localPortHex, 16),
      remoteAddress: decodeProcAddress(remoteHex),
      remotePort: parseInt(remotePortHex, 16),
      state: parseInt(state, 16),
      inode: Number(fields[9]),
    });
  }
  return sockets;
}

/** The socket inode of an fd link target ("socket:[12345]"), or undefined for files, pipes and the rest. */
export function socketInode(linkTarget: string): number | undefined {
  const match = /^socket:\[(\d+)\]$/.exec(linkTarget);
  return match ? Number(match[1]) : undefined;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** "host:port" → { host, port }; localhost is 127.0.0.1, as the kernel reports it. */
export function parseEndpoint(address: string): Endpoint {
  const at = address.lastIndexOf(':');
  if (at <= 0) throw new Error(`not host:port: '${address}'`);
  const host = address.slice(0, at);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(address.slice(at + 1)) };
}

/**
 * Established connections of a process to the brokers: sockets that are the process's own
 * (their inode among its fds), ESTABLISHED, and whose remote end is a broker's address.
 */
export function countBrokerConnections(sockets: readonly TcpSocket[], ownInodes: ReadonlySet<number>, brokers: readonly Endpoint[]): number {
  const seen = new Set<number>();
  for (const socket of sockets) {
    if (socket.state !== TCP_ESTABLISHED || !ownInodes.has(socket.inode) || seen.has(socket.inode)) continue;
    if (brokers.some((broker) => broker.port === socket.remotePort && broker.host === socket.remoteAddress)) seen.add(socket.inode);
  }
  return seen.size;
}

/** Peak resident set size in bytes (VmHWM of /proc/<pid>/status), or undefined when absent. */
export function parsePeakRss(status: string): number | undefined {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

export interface ProcessSample {
  readonly connections: number;
  readonly peakRssBytes?: number;
}

/** Reads a live process's broker connections and peak RSS; undefined once it has exited. */
export function sampleProcess(pid: number, brokers: readonly Endpoint[]): ProcessSample | undefined {
  try {
    const inodes = new Set<number>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = socketInode(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (inode !== undefined) inodes.add(inode);
      } catch {
        // The fd closed between the listing and the readlink.
      }
    }
    const sockets = ['tcp', 'tcp6'].flatMap((file) => {
      try {
        return parseProcNetTcp(readFileSync(`/proc/${pid}/net/${file}`, 'utf8'));
      } catch {
        return []; // no IPv6 in this kernel
      }
    });
    return { connections: countBrokerConnections(sockets, inodes, brokers), peakRssBytes: parsePeakRss(readFileSync(`/proc/${pid}/status`, 'utf8')) };
  } catch {
    return undefined;
  }
}

/** Samples a process every intervalMs until stopped: the most connections seen and the last peak RSS. */
export class ProcessWatch {
  private maxConnections = 0;
  private lastConnections = 0;
  private peakRssBytes: number | undefined;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    private readonly brokers: readonly Endpoint[],
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const sample = sampleProcess(this.pid, this.brokers);
    if (!sample) return;
    this.samples++;
    this.lastConnections = sample.connections;
    this.maxConnections = Math.max(this.maxConnections, sample.connections);
    // VmHWM only grows, so the last reading is the peak so far.
    if (sample.peakRssBytes !== undefined) this.peakRssBytes = sample.peakRssBytes;
  }

  /** Stops sampling (after one last sample) and returns the figures. */
  stop(): { maxConnections: number; lastConnections: number; peakRssMiB?: number; samples: number } {
    this.sample();
    clearInterval(this.timer);
    return {
      maxConnections: this.maxConnections,
      lastConnections: this.lastConnections,
      peakRssMiB: this.peakRssBytes === undefined ? undefined : Math.round((this.peakRssBytes / 2 ** 20) * 10) / 10,
      samples: this.samples,
    };
  }
}

/**
 * CPU time of a process so far (user + system, every thread), in ms, from /proc/<pid>/stat;
 * undefined once it is gone. Clock ticks are 100 per second on Linux (USER_HZ).
 */
export function processCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
