import { describe, expect, it } from 'vitest';
import { countBrokerConnections, decodeProcAddress, parseEndpoint, parsePeakRss, parseProcNetTcp, socketInode } from '../../load-tests/lib/proc-stats.js';
import { rateFromSamples } from '../../load-tests/lib/committed-rate.js';

// Lines as the kernel writes them (19092 = 0x4A94, 9092 = 0x2384).
const TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0100007F:4A94 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 7359 1 000000007bc76983 100 0 0 10 0',
  '   1: 0100007F:C350 0100007F:4A94 01 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000038a6bcae 20 4 30 10 -1',
  '   2: 0100007F:C351 0100007F:4A94 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000038a6bcae 20 4 30 10 -1',
  '   3: 0100007F:C352 0100007F:4A94 06 00000000:00000000 03:00000000 00000000     0        0 1003 1 0000000038a6bcae 20 4 30 10 -1',
  '   4: 0100007F:C353 0100007F:2384 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000038a6bcae 20 4 30 10 -1',
  '   5: 0A00000A:C354 0100007F:4A94 01 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000038a6bcae 20 4 30 10 -1',
].join('\n');
const TCP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0000000000000000FFFF00000100007F:C355 0000000000000000FFFF00000100007F:4A94 01 00000000:00000000 00:00000000 00000000     0        0 1005 1 000000009b17a652 20 4 30 10 -1',
  '   1: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 6730 1 0000000092f02c86 100 0 0 10 0',
].join('\n');

describe('/proc/net/tcp parsing', () => {
  it('decodes little-endian IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    expect(decodeProcAddress('0100007F')).toBe('127.0.0.1');
    expect(decodeProcAddress('0A00000A')).toBe('10.0.0.10');
    expect(decodeProcAddress('0000000000000000FFFF00000100007F')).toBe('127.0.0.1');
    expect(decodeProcAddress('00000000000000000000000001000000')).toBe('0:0:0:0:0:0:0:1');
    expect(() => decodeProcAddress('7F')).toThrow(/not a \/proc\/net\/tcp address/);
  });

  it('reads ports, states and inodes, skipping the header', () => {
    const sockets = parseProcNetTcp(TCP);
    expect(sockets).toHaveLength(6);
    expect(sockets[0]).toEqual({ localAddress: '127.0.0.1', localPort: 19092, remoteAddress: '0.0.0.0', remotePort: 0, state: 0x0a, inode: 7359 });
    expect(sockets[1]).toMatchObject({ localPort: 50000, remoteAddress: '127.0.0.1', remotePort: 19092, state: 1, inode: 1001 });
    expect(parseProcNetTcp('')).toEqual([]);
  });

  it('reads fd link targets: only sockets have an inode', () => {
    expect(socketInode('socket:[1001]')).toBe(1001);
    expect(socketInode('pipe:[1001]')).toBeUndefined();
    expect(socketInode('/tmp/x.log')).toBeUndefined();
  });

  it('counts only the process\'s own ESTABLISHED sockets to a broker address', () => {
    const sockets = [...parseProcNetTcp(TCP), ...parseProcNetTcp(TCP6)];
    const brokers = [parseEndpoint('127.0.0.1:19092')];
    // 1001, 1002: established to the broker; 1003: TIME_WAIT; 1004: another port; 1005: IPv4-mapped (a JVM).
    expect(countBrokerConnections(sockets, new Set([1001, 1002, 1003, 1004, 1005]), brokers)).toBe(3);
    // Sockets of other processes in the same namespace (2001) do not count.
    expect(countBrokerConnections(sockets, new Set([1001]), brokers)).toBe(1);
    expect(countBrokerConnections(sockets, new Set([1001, 1004]), [...brokers, parseEndpoint('localhost:9092')])).toBe(2);
    expect(countBrokerConnections(sockets, new Set([2001]), brokers)).toBe(1);
    expect(countBrokerConnections(sockets, new Set(), brokers)).toBe(0);
  });

  it('reads the peak RSS (VmHWM) in bytes', () => {
    expect(parsePeakRss('Name:\tnode\nVmPeak:\t  1200 kB\nVmHWM:\t  265432 kB\nVmRSS:\t 200000 kB\n')).toBe(265432 * 1024);
    expect(parsePeakRss('Name:\tzombie\n')).toBeUndefined();
  });

  it('parses host:port endpoints', () => {
    expect(parseEndpoint('localhost:9092')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseEndpoint('kafka-1:19093')).toEqual({ host: 'kafka-1', port: 19093 });
    expect(() => parseEndpoint('kafka-1')).toThrow(/host:port/);
  });
});

describe('committed-records rate', () => {
  it('counts from the first sample that shows a commit to the last sample', () => {
    const rate = rateFromSamples([
      { at: 0, committed: 0 },
      { at: 1000, committed: 0 },
      { at: 1500, committed: 500 },
      { at: 2500, committed: 10_500 },
      { at: 3500, committed: 20_500 },
    ]);
    expect(rate).toEqual({ records: 20_000, seconds: 2, recordsPerSecond: 10_000 });
  });
  it('leaves out a warm-up after the first commit (a cold JIT), unless the backlog ran out within it', () => {
    const samples = [
      { at: 0, committed: 0 },
      { at: 1000, committed: 100 },
      { at: 2000, committed: 1100 },
      { at: 6000, committed: 5100 },
      { at: 8000, committed: 25_100 },
    ];
    expect(rateFromSamples(samples, 5000)).toEqual({ records: 20_000, seconds: 2, recordsPerSecond: 10_000 }); // from 6000
    expect(rateFromSamples(samples.slice(0, 4), 5000)).toEqual({ records: 5000, seconds: 5, recordsPerSecond: 1000 }); // no sample after the warm-up
  });
  it("gives the measured process's CPU over the same window as the records, warm-up left out", () => {
    const samples = [
      { at: 0, committed: 0, cpuMs: 900 },
      { at: 1000, committed: 100, cpuMs: 2_000 }, // first commit: start-up and JIT before it
      { at: 6000, committed: 5100, cpuMs: 6_000 },
      { at: 8000, committed: 25_100, cpuMs: 8_000 },
    ];
    expect(rateFromSamples(samples, 5000)).toEqual({ records: 20_000, seconds: 2, recordsPerSecond: 10_000, cpuMs: 2_000 });
    expect(rateFromSamples(samples.map(({ at, committed }) => ({ at, committed })), 5000)).not.toHaveProperty('cpuMs'); // not sampled: not zero
  });
  it('is zero without a commit, or with only one sample after it', () => {
    expect(rateFromSamples([{ at: 0, committed: 0 }, { at: 100, committed: 0 }]).recordsPerSecond).toBe(0);
    expect(rateFromSamples([{ at: 0, committed: 0 }, { at: 100, committed: 5 }]).recordsPerSecond).toBe(0);
    expect(rateFromSamples([]).recordsPerSecond).toBe(0);
  });
});
