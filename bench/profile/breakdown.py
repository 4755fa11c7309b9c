#!/usr/bin/env python3
"""Groups `perf script -F ip,sym,dso` call stacks of detach by what they were doing.

Usage: breakdown.py STACKS CPU_MS_PER_MESSAGE
Kernel samples go by the system call (or the network's softirq work) on their stack; user samples by library, and
managed code and libc by the nearest frame of ours on the stack. Each group's share of the samples times detach's CPU
per message gives its milliseconds per message.
"""
import collections
import re
import sys

FRAME = re.compile(r'\s*[0-9a-f]+\s+(.*)\s+\((.*)\)$')

# Nearest frame whose symbol holds the key names the owner (first match from the top of the stack).
OWNERS = [
    ('DotReader', 'SMTP: dot reader (DATA into the spool)'),
    ('SpillStream', 'spool (copies in and out)'),
    ('MimeStreamReader', 'MIME: structure scan'),
    ('Base64', 'decode: base64'),
    ('DecodingStream', 'decode: base64'),
    ('RecordEncrypt', 'encrypt: records (managed part)'),
    ('UnixFs', 'store: CID and writes (managed part)'),
    ('LocalContent', 'store: CID and writes (managed part)'),
    ('Sqlite', 'index: SQLite'),
    ('sqlite3', 'index: SQLite'),
    ('Rewriter', 'MIME: rewrite'),
    ('PreparedMessage', 'MIME: rewrite'),
    ('SmtpRelay', 'SMTP: relay to the next hop'),
    ('DotWriter', 'SMTP: relay to the next hop'),
    ('SmtpSession', 'SMTP: sessions and commands'),
    ('SmtpCommand', 'SMTP: sessions and commands'),
    ('Pipelines', 'SMTP: sessions and commands'),
]

SYSCALLS = {
    'network (TCP receive, send, softirq)': {'recvfrom', 'sendto', 'sendmsg', 'recvmsg', 'epoll_wait', 'accept4', 'connect', 'shutdown'},
    'files: store and spool (write, fsync, fadvise, open, rename, close)': {'pwrite64', 'write', 'fsync', 'fdatasync', 'fadvise64', 'openat', 'rename', 'renameat', 'renameat2', 'close', 'unlink', 'unlinkat', 'pread64', 'read', 'lseek', 'fstat', 'newfstatat', 'statx', 'mkdir', 'ftruncate', 'fcntl', 'flock'},
    'threads (futex, scheduling)': {'futex', 'sched_yield', 'nanosleep', 'clock_nanosleep'},
}


def stacks(path):
    current = []
    with open(path, encoding='utf-8', errors='replace') as lines:
        for line in lines:
            if not line.strip():
                if current:
                    yield current
                current = []
                continue
            match = FRAME.match(line.rstrip('\n'))
            if match:
                current.append((match.group(1), match.group(2)))
    if current:
        yield current


def kernel_group(stack):
    for symbol, _ in stack:
        if 'handle_softirqs' in symbol or 'net_rx_action' in symbol:
            return 'kernel: network (TCP receive, send, softirq)'
        match = re.search(r'__x64_sys_(\w+)', symbol)
        if match:
            for group, calls in SYSCALLS.items():
                if match.group(1) in calls:
                    return 'kernel: ' + group
            return 'kernel: other system calls (' + match.group(1) + ')'
    return 'kernel: interrupts, faults, scheduling'


def user_group(stack):
    symbol, dso = stack[0]
    if 'libcrypto' in dso:
        return 'crypto: AES-256-CTR, HMAC-SHA-256, SHA-256 of the CID (libcrypto)'
    if 'libcoreclr' in dso or 'libclrjit' in dso:
        return 'runtime: GC, JIT, type system'
    for frame, _ in stack:
        for key, owner in OWNERS:
            if key in frame:
                return owner
    if 'sqlite' in dso:
        return 'index: SQLite'
    return 'other managed code and libc'


def main():
    path, per_message = sys.argv[1], float(sys.argv[2])
    groups = collections.Counter()
    for stack in stacks(path):
        groups[kernel_group(stack) if 'kernel' in stack[0][1] else user_group(stack)] += 1
    total = sum(groups.values())
    if total == 0:
        sys.exit('no samples')
    print(f'{total} samples; {per_message:.2f} ms of detach CPU per message')
    for group, count in groups.most_common():
        print(f'{100 * count / total:5.1f} %  {per_message * count / total:5.2f} ms  {group}')


if __name__ == '__main__':
    main()
