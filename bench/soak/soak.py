#!/usr/bin/env python3
"""The soak's load, sampling, tally and verdict (bench/soak/run.sh starts the peers and calls this).

Python standard library only. Threads:
  scheduler   queues plain and attachment mail at the configured rates, and the retries that are due
  senders     one SMTP connection per message into Postfix's inbound smtpd (which proxies to detach)
  tally       reads every delivered message from the Maildirs (Message-ID, links), then deletes it
  downloaders fetch each link of each delivered copy from the gateway and check the plaintext's SHA-256
  restarter   kills the IPFS node (SIGKILL) every --restart-every seconds and starts it again after --down
  ager        compresses retention: records older than --retention get expires_at = now; detach's own
              maintenance (Vault:MaintenanceIntervalSeconds) then erases their keys and unpins them
  sampler     every --sample seconds: detach's RSS, open fds, threads, spool, temp files, index, the node's pins
              and repo size (after a repo gc, as the node's own GC would), Postfix's queue, the counters
After --duration, sending stops and the run drains; then the tally, the index/node cross-check and the growth
analysis decide the exit status (0 pass, 1 fail). Writes soak.csv, events.csv, summary.json, summary.txt, plot.gp.
"""
import argparse
import collections
import csv
import email
import email.base64mime
import email.utils
import http.client
import hashlib
import heapq
import json
import math
import os
import queue
import random
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

SENDER = "soak@client.test"

# Growth per hour above max(floor, rel x level) with a t-statistic above 3 over the analysis window, and still
# above half that bound over the window's last half, is "without bound". (name, column, floor/h, rel/h, gate)
METRICS = [
    ("detach RSS (MiB)", "rss_mib", 8.0, 0.05, "always"),
    ("detach open fds", "fds", 5.0, 0.05, "always"),
    ("detach threads", "threads", 3.0, 0.05, "always"),
    ("spool (MiB)", "spool_mib", 1.0, 0.0, "node_settled"),
    ("spool files", "spool_files", 2.0, 0.0, "node_settled"),
    ("detach temp files (MiB)", "tmp_mib", 1.0, 0.0, "always"),
    ("node pins", "pins", 10.0, 0.10, "node_up"),
    ("node repo after gc (MiB)", "repo_mib", 8.0, 0.10, "node_up"),
    ("Postfix queue", "queue", 10.0, 0.0, "always"),
]
REPORTED_ONLY = [("index (MiB)", "index_mib")]


class Message:
    __slots__ = ("mid", "kind", "recipients", "shas", "raw", "attempts", "accepted", "ambiguous", "refused", "rejected",
                 "created")

    def __init__(self, mid, kind, recipients, shas, raw):
        self.mid, self.kind, self.recipients, self.shas, self.raw = mid, kind, recipients, shas, raw
        self.attempts, self.accepted, self.ambiguous, self.refused, self.rejected = 0, False, False, False, None
        self.created = time.monotonic()


class Soak:
    def __init__(self, a):
        self.a = a
        self.samples_taken = 0
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.stop_sending = threading.Event()
        self.stop_all = threading.Event()
        self.rng = random.Random(a.seed)
        self.messages = {}
        self.delivered = collections.Counter()  # (mid, mailbox) -> copies
        self.foreign = collections.Counter()  # delivered mail that is not ours, by mailbox (e.g. postmaster notices)
        self.count = collections.Counter()
        self.send_queue = queue.Queue()
        self.retries = []  # heap of (due, seq, mid)
        self.downloads = []  # heap of (due, seq, job)
        self.download_ready = threading.Condition(self.lock)
        self.in_flight_downloads = 0
        self.seq = 0
        self.node_up = True
        self.node_up_since = time.monotonic()
        self.events = []
        self.rows = []
        self.failures = []
        self.sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]

    # ---- helpers ---------------------------------------------------------------------------------------------
    def now(self):
        return time.monotonic() - self.start

    def bump(self, key, n=1):
        with self.lock:
            self.count[key] += n

    def event(self, what):
        with self.lock:
            self.events.append((round(self.now(), 1), what))
        log(f"{self.now():7.0f}s {what}")

    def next_seq(self):
        self.seq += 1
        return self.seq

    # ---- mail ------------------------------------------------------------------------------------------------
    def new_message(self, kind):
        with self.lock:
            n = self.next_seq()
        mid = f"<soak.{n}.{os.urandom(6).hex()}@client.test>"
        boxes = self.a.mailboxes[:]
        self.rng.shuffle(boxes)
        recipients = sorted(boxes[: self.rng.randint(1, min(self.a.max_recipients, len(boxes)))])
        headers = (f"From: {SENDER}\r\nTo: {', '.join(r + '@example.test' for r in recipients)}\r\n"
                   f"Subject: soak {kind} {n}\r\nMessage-ID: {mid}\r\nDate: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n")
        text = ("Soak message %d.\r\n" % n) + ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n" * 60)
        shas = []
        if kind == "plain":
            raw = headers + "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + text
        else:
            boundary = "soak-" + os.urandom(8).hex()
            parts = [f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}"]
            for i in range(self.rng.randint(1, self.a.max_attachments)):
                data = os.urandom(self.rng.choice(self.sizes))
                shas.append(hashlib.sha256(data).hexdigest())
                b64 = email.base64mime.body_encode(data, maxlinelen=76).replace("\n", "\r\n")
                parts.append(f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\n"
                             f"Content-Disposition: attachment; filename=\"f{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}")
            raw = (headers + f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
                   + "\r\n".join(parts) + f"\r\n--{boundary}--\r\n")
        message = Message(mid, kind, recipients, shas, raw.encode("ascii"))
        with self.lock:
            self.messages[mid] = message
        return message

    def scheduler(self):
        rates = [("plain", self.a.plain_per_min), ("attach", self.a.attach_per_min)]
        due = {kind: self.start + self.rng.random() * 60.0 / rate for kind, rate in rates if rate > 0}
        while not self.stop_all.is_set():
            now = time.monotonic()
            if not self.stop_sending.is_set():
                for kind, rate in rates:
                    if kind in due and due[kind] <= now:
                        # Evenly spaced with +-50 % jitter: the rate is exact on average, arrivals are not lockstep.
                        due[kind] += 60.0 / rate * (0.5 + self.rng.random())
                        self.send_queue.put(("new", kind))
                        self.bump("scheduled")
            with self.lock:
                while self.retries and self.retries[0][0] <= now:
                    _, _, mid = heapq.heappop(self.retries)
                    self.send_queue.put(("retry", mid))
            if self.send_queue.qsize() > 4 * self.a.senders:
                self.bump("behind_ticks")  # the machine cannot keep up with the rate: reported, not a failure
            time.sleep(0.05)

    def sender(self):
        while not self.stop_all.is_set():
            try:
                what, arg = self.send_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            message = self.new_message(arg) if what == "new" else self.messages[arg]
            self.send(message)

    def send(self, m):
        m.attempts += 1
        self.bump("attempts")
        outcome = None
        try:
            with smtplib.SMTP("127.0.0.1", self.a.smtp_port, timeout=self.a.smtp_timeout) as smtp:
                refused = smtp.sendmail(SENDER, [r + "@example.test" for r in m.recipients], m.raw)
                outcome = "accepted" if not refused else "partial"
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass
        except smtplib.SMTPRecipientsRefused as e:
            codes = [c for c, _ in e.recipients.values()]
            outcome = "tempfail" if all(400 <= c < 500 for c in codes) else "rejected"
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPResponseException) as e:
            outcome = "tempfail" if 400 <= e.smtp_code < 500 else "rejected"
            m.refused = m.refused or outcome == "tempfail"
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            # No reply to the end of data (or anything earlier): the message may or may not have been taken.
            # Retrying is what a client must do; a duplicate is then within SMTP's acknowledgement window.
            outcome = "ambiguous"
            m.ambiguous = True
            log(f"{self.now():7.0f}s {m.mid}: no reply ({type(e).__name__}: {e}); will retry")
        self.bump(outcome)
        if outcome == "accepted":
            m.accepted, m.raw = True, None
        elif outcome in ("tempfail", "ambiguous"):
            with self.lock:
                heapq.heappush(self.retries, (time.monotonic() + self.a.retry_after, self.next_seq(), m.mid))
        else:
            m.rejected = outcome
            self.failures.append(f"{m.mid} was {outcome} by the SMTP server")

    # ---- delivery --------------------------------------------------------------------------------------------
    def tally(self):
        while not self.stop_all.is_set():
            found = self.tally_once()
            if not found:
                time.sleep(1.0)

    def tally_once(self):
        found = 0
        for box in self.a.mailboxes + ["postmaster"]:
            folder = os.path.join(self.a.maildir_base, box, "new")
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as f:
                        parsed = email.message_from_binary_file(f)
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                found += 1
                mid = (parsed.get("Message-ID") or "").strip()
                with self.lock:
                    message = self.messages.get(mid)
                    if message is None:
                        self.foreign[box] += 1
                        continue
                    self.delivered[(mid, box)] += 1
                    self.count["delivered_copies"] += 1
                links = []
                for part in parsed.walk():
                    if part.get_content_type() == "message/external-body":
                        url = part.get_param("URL")
                        if url is not None:
                            links.append(email.utils.collapse_rfc2231_value(url))
                if len(links) != len(message.shas):
                    self.failures.append(f"{mid} in {box}: {len(links)} links for {len(message.shas)} attachments")
                self.bump("links", len(links))
                for link in links:
                    self.queue_download({"mid": mid, "link": link, "delivered": time.monotonic(), "tries": 0}, 0)
        return found

    def queue_download(self, job, delay):
        with self.lock:
            heapq.heappush(self.downloads, (time.monotonic() + delay, self.next_seq(), job))
            self.download_ready.notify()

    def downloader(self):
        while not self.stop_all.is_set():
            with self.lock:
                if not self.downloads or self.downloads[0][0] > time.monotonic():
                    self.download_ready.wait(timeout=0.5)
                    continue
                _, _, job = heapq.heappop(self.downloads)
                self.in_flight_downloads += 1
            try:
                self.download(job)
            finally:
                with self.lock:
                    self.in_flight_downloads -= 1

    def download(self, job):
        job["tries"] += 1
        base, _, key = job["link"].partition("#")
        cid = base.rstrip("/").rsplit("/", 1)[-1]
        request = urllib.request.Request(f"{self.a.gateway}/d/{cid}/file", headers={"X-Detach-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                digest = hashlib.sha256()
                while True:
                    chunk = response.read(256 * 1024)
                    if not chunk:
                        break
                    digest.update(chunk)
            if digest.hexdigest() in self.messages[job["mid"]].shas:
                self.bump("downloads_ok")
            else:
                self.bump("downloads_corrupt")
                self.failures.append(f"{job['mid']}: {cid} downloaded bytes that are not the attachment sent")
            return
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            status = type(e).__name__
        if status == 410 and time.monotonic() - self.messages[job["mid"]].created >= self.a.retention * 0.9:
            self.bump("downloads_expired")  # aged out before its turn: expected, not a loss
        elif (status == 503 or isinstance(status, str)) and time.monotonic() - job["delivered"] < self.a.download_patience:
            self.bump("downloads_retried")  # the node is down, or restarting: retried
            self.queue_download(job, min(60.0, 5.0 * job["tries"]))
        else:
            self.bump("downloads_failed")
            self.failures.append(f"{job['mid']}: {cid} answered {status} after {job['tries']} tries")

    # ---- the node and the clock ------------------------------------------------------------------------------
    def restarter(self):
        deadline = self.a.duration
        next_restart = self.a.restart_every
        while not self.stop_all.is_set() and self.a.restart_every > 0:
            if self.now() >= next_restart and self.now() + self.a.down < deadline:
                self.kill_node()
                self.stop_all.wait(self.a.down)
                self.start_node()
                next_restart += self.a.restart_every
            if self.now() >= deadline:
                return
            self.stop_all.wait(1.0)

    def kill_node(self):
        pid = int(open(os.path.join(self.a.ipfs_repo, "daemon.pid")).read().strip())
        with self.lock:
            self.node_up = False
        try:
            os.killpg(pid, signal.SIGKILL)  # the node runs in its own session (setsid): kill its whole group
        except ProcessLookupError:
            pass
        self.event("node killed")
        self.bump("node_restarts")

    def start_node(self):
        for attempt in range(3):
            result = subprocess.run(["bash", self.a.ipfs_script, self.a.ipfs_repo, str(self.a.ipfs_port)],
                                    capture_output=True, text=True, timeout=300)
            if result.returncode == 0:
                with self.lock:
                    self.node_up, self.node_up_since = True, time.monotonic()
                self.event("node up")
                return
            log(f"node start failed (attempt {attempt + 1}): {result.stderr[-500:]}")
        self.failures.append("the IPFS node could not be started again")

    def ager(self):
        index = os.path.join(self.a.data_path, "index.db")
        while not self.stop_all.wait(min(30.0, self.a.retention / 4)):
            if not os.path.exists(index):
                continue
            now_ms = int(time.time() * 1000)
            try:
                with sqlite3.connect(index, timeout=30) as db:
                    aged = db.execute("UPDATE attachments SET expires_at = ? WHERE revoked_at IS NULL AND expires_at > ? "
                                      "AND created_at < ?", (now_ms, now_ms, now_ms - int(self.a.retention * 1000))).rowcount
                db.close()
                self.bump("aged", aged)
            except sqlite3.Error as e:
                log(f"ageing skipped this round: {e}")

    # ---- sampling --------------------------------------------------------------------------------------------
    def node_call(self, command, timeout=120):
        request = urllib.request.Request(f"{self.a.ipfs_api}/api/v0/{command}", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def node_sample(self):
        with self.lock:
            if not self.node_up:
                return None, None
        collected = True
        try:
            # Under load a js-ipfs gc can take minutes; a sample that waits for it would stall the samples of detach.
            # A gc that times out still leaves the pin count worth having; the repo size is kept only after a gc
            # (before one it counts garbage too).
            self.node_call("repo/gc?quiet=true", timeout=max(30.0, self.a.sample / 2))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            collected = False
            log(f"node gc skipped: {e!r}")
        try:
            pins = len(json.loads(self.node_call("pin/ls?type=recursive&cid-base=base32")).get("Keys") or {})
            repo = int(json.loads(self.node_call("repo/stat?size-only=true"))["RepoSize"])  # js-ipfs sends a string
            return pins, repo / 2**20 if collected else None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError, KeyError) as e:
            # The node may be killed mid-answer (IncompleteRead); its numbers are missing from this sample only.
            log(f"node sample skipped: {e!r}")
            return None, None

    def sample(self, phase):
        pid = self.a.detach_pid
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        spool_bytes, spool_files = folder_size(os.path.join(self.a.data_path, "spool"), skip=".tmp")
        spool_tmp, _ = folder_size(os.path.join(self.a.data_path, "spool", ".tmp"))
        tmp_bytes, _ = folder_size(os.path.join(self.a.data_path, "tmp"))
        index_bytes = sum(os.path.getsize(p) for p in (os.path.join(self.a.data_path, "index.db" + s) for s in ("", "-wal", "-shm"))
                          if os.path.exists(p))
        # The node's gc holds its repo lock: run every minute it starved the node's adds (the spool grew while the node
        # was up). Kubo's own periodic gc runs hourly; the node is sampled (gc, pins, repo) every --node-sample-every.
        self.samples_taken += 1
        pins, repo_mib = self.node_sample() if (self.samples_taken - 1) % self.a.node_sample_every == 0 else (None, None)
        queued = sum(folder_size(os.path.join(self.a.postfix_queue, q))[1] for q in ("maildrop", "incoming", "active", "deferred", "hold"))
        with self.lock:
            settled = self.node_up and time.monotonic() - self.node_up_since >= 2 * self.a.maintenance + 5
            c = dict(self.count)
            row = {
                "t_s": round(self.now(), 1), "phase": phase,
                "rss_mib": round(int(status["VmRSS"].split()[0]) / 1024, 1),
                "fds": len(os.listdir(f"/proc/{pid}/fd")),
                "threads": int(status["Threads"]),
                "cpu_s": round(cpu, 1),
                "spool_mib": round((spool_bytes + spool_tmp) / 2**20, 3), "spool_files": spool_files,
                "tmp_mib": round(tmp_bytes / 2**20, 3),
                "index_mib": round(index_bytes / 2**20, 3),
                "pins": "" if pins is None else pins, "repo_mib": "" if repo_mib is None else round(repo_mib, 2),
                "queue": queued,
                "node_up": int(self.node_up), "node_settled": int(settled),
                "accepted": c.get("accepted", 0), "tempfail": c.get("tempfail", 0), "ambiguous": c.get("ambiguous", 0),
                "delivered_copies": c.get("delivered_copies", 0), "downloads_ok": c.get("downloads_ok", 0),
                "downloads_retried": c.get("downloads_retried", 0), "pending_downloads": len(self.downloads) + self.in_flight_downloads,
                "aged": c.get("aged", 0),
            }
            self.rows.append(row)
        return row

    def sampler(self):
        next_at = 0.0
        while not self.stop_sending.is_set():
            if self.now() >= next_at:
                row = self.sample("load")
                log(f"{row['t_s']:7.0f}s rss {row['rss_mib']} MiB, fds {row['fds']}, threads {row['threads']}, spool "
                    f"{row['spool_files']} files, pins {row['pins']}, repo {row['repo_mib']} MiB, queue {row['queue']}, "
                    f"accepted {row['accepted']}, delivered {row['delivered_copies']}, downloads {row['downloads_ok']}")
                # After a slow sample, the next one is a full interval later: no burst of catch-up samples.
                next_at = max(next_at + self.a.sample, self.now())
            self.stop_sending.wait(0.5)

    # ---- the end ---------------------------------------------------------------------------------------------
    def drained(self):
        with self.lock:
            pending_send = bool(self.retries) or self.send_queue.qsize() > 0
            undelivered = any(m.accepted and any(self.delivered[(m.mid, r)] == 0 for r in m.recipients) for m in self.messages.values())
            downloads = bool(self.downloads) or self.in_flight_downloads > 0
        spool = folder_size(os.path.join(self.a.data_path, "spool"), skip=".tmp")[1]
        return not (pending_send or undelivered or downloads or spool or not self.node_up)

    def guarded(self, target):
        """A thread that dies fails the run (with its traceback) instead of silently stopping its part of the load."""
        def run():
            try:
                target()
            except Exception:  # noqa: BLE001 - any bug in the driver must end up in the verdict
                text = traceback.format_exc()
                log(text)
                self.failures.append(f"driver thread {target.__name__} died: {text.splitlines()[-1]}")
        return threading.Thread(target=run, name=target.__name__, daemon=True)

    def run(self):
        threads = [self.guarded(t) for t in (self.scheduler, self.tally, self.restarter, self.ager, self.sampler)]
        threads += [self.guarded(self.sender) for _ in range(self.a.senders)]
        threads += [self.guarded(self.downloader) for _ in range(self.a.downloaders)]
        for t in threads:
            t.start()
        self.event(f"load: {self.a.plain_per_min} plain + {self.a.attach_per_min} attachment messages/min for {self.a.duration:.0f} s")
        while self.now() < self.a.duration:
            time.sleep(1.0)
        self.stop_sending.set()
        self.event("sending stopped; draining")
        drain_deadline = time.monotonic() + self.a.drain
        while time.monotonic() < drain_deadline and not self.drained():
            time.sleep(1.0)
        self.tally_once()
        self.sample("drained")
        self.event("drained" if self.drained() else "drain timed out")
        self.stop_all.set()
        return self.verdict()

    def verdict(self):
        lost, duplicated, window_duplicates, unsent, after_refusal = [], [], [], [], []
        for m in self.messages.values():
            copies = [self.delivered[(m.mid, r)] for r in m.recipients]
            if not m.accepted and m.rejected is None:
                unsent.append(m.mid)
            if m.accepted:
                lost += [f"{m.mid} -> {r}" for r, n in zip(m.recipients, copies) if n == 0]
            elif any(copies) and not m.ambiguous:
                after_refusal.append(m.mid)
            for r, n in zip(m.recipients, copies):
                if n > 1:
                    (window_duplicates if m.ambiguous else duplicated).append(f"{m.mid} -> {r} x{n}")
        integrity = self.cross_check()
        growth = self.growth()
        c = self.count
        checks = [
            ("0 messages lost (accepted, not delivered to every recipient)", not lost, len(lost)),
            ("0 messages duplicated outside SMTP's acknowledgement window", not duplicated, len(duplicated)),
            ("0 messages delivered after a 4xx/5xx refusal", not after_refusal, len(after_refusal)),
            ("0 messages never accepted (retries exhausted by the end)", not unsent, len(unsent)),
            ("0 messages refused for good (5xx)", c["rejected"] + c["partial"] == 0, c["rejected"] + c["partial"]),
            ("every download returned the bytes sent", c["downloads_corrupt"] + c["downloads_failed"] == 0,
             c["downloads_corrupt"] + c["downloads_failed"]),
            ("every link of every delivered copy was downloaded (or had aged out first)",
             c["downloads_ok"] + c["downloads_expired"] == c["links"], c["links"] - c["downloads_ok"] - c["downloads_expired"]),
            ("0 live attachments missing from both the node and the spool", integrity["lost_attachments"] == 0, integrity["lost_attachments"]),
            ("the run drained (queue, retries, downloads and spool empty at the end)", self.drained(), int(not self.drained())),
        ]
        checks += [(f"{g['name']} does not grow without bound ({g['detail']})", not g["unbounded"], g["per_hour"]) for g in growth]
        passed = all(ok for _, ok, _ in checks) and not self.failures
        summary = {
            "passed": passed,
            "parameters": {k: v for k, v in vars(self.a).items() if not k.startswith("ipfs_") and k not in ("detach_pid",)},
            "counts": dict(c), "foreign_deliveries": dict(self.foreign),
            "messages": {"sent": len(self.messages), "accepted": sum(m.accepted for m in self.messages.values()),
                         "delivered_copies": sum(self.delivered.values()),
                         "expected_copies": sum(len(m.recipients) for m in self.messages.values() if m.accepted)},
            "lost": lost[:50], "duplicated": duplicated[:50], "duplicates_in_ack_window": window_duplicates[:50],
            "delivered_after_refusal": after_refusal[:50], "unsent": unsent[:50],
            "integrity": integrity, "growth": growth, "checks": [{"check": n, "ok": ok, "value": v} for n, ok, v in checks],
            "failures": self.failures[:100], "events": self.events,
        }
        return summary

    def cross_check(self):
        """Live records must have their object on the node or in the spool; pins of erased records are garbage."""
        with sqlite3.connect(os.path.join(self.a.data_path, "index.db"), timeout=30) as db:
            rows = db.execute("SELECT cid, revoked_at IS NULL, store_state FROM attachments").fetchall()
        db.close()
        live = {cid for cid, alive, state in rows if alive and state == "stored"}
        known = {cid for cid, _, _ in rows}
        erased = {cid for cid, alive, _ in rows if not alive}
        pins = None
        for attempt in range(3):
            try:
                # base32 as the index writes them (js-ipfs answers base58btc otherwise). A js-ipfs node still busy with
                # a gc can take minutes to list thousands of pins: wait for it rather than fail the run on it.
                pins = set((json.loads(self.node_call("pin/ls?type=recursive&cid-base=base32", timeout=300)).get("Keys") or {}).keys())
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                log(f"cross-check: pin/ls attempt {attempt + 1} failed: {e!r}")
                error = e
        if pins is None:
            return {"error": f"node unreachable at the end: {error!r}", "lost_attachments": -1}
        spool = set()
        for dirpath, dirnames, filenames in os.walk(os.path.join(self.a.data_path, "spool")):
            dirnames[:] = [d for d in dirnames if d != ".tmp"]
            spool.update(filenames)
        lost = sorted(live - pins - spool)
        return {
            "records": len(rows), "live": len(live), "erased": len(erased), "pins": len(pins), "spooled": len(spool),
            "lost_attachments": len(lost), "lost_examples": lost[:20],
            "garbage_pins_erased": len(pins & erased), "garbage_pins_unknown": len(pins - known),
            "note": "garbage pins: objects whose key share is erased but whose unpin failed (node down at that moment); "
                    "unreadable by anyone, they only cost space until removed by hand (pin rm)",
        }

    def growth(self):
        start = max(self.a.warmup, self.a.duration / 2)
        window = [r for r in self.rows if r["phase"] == "load" and r["t_s"] >= start]
        results = []
        floors = dict(item.split("=", 1) for item in self.a.bounds.split(",") if "=" in item)
        for name, column, floor, rel, gate in METRICS:
            floor = float(floors.get(column, floor))
            points = [(r["t_s"], float(r[column])) for r in window
                      if r[column] != "" and (gate == "always" or r[gate] == 1)]
            result = {"name": name, "column": column, "window_s": [round(start), round(self.a.duration)], "samples": len(points),
                      "unbounded": False, "per_hour": None, "detail": "too few samples in the window"}
            if len(points) >= 4:
                slope, se, mean = least_squares(points)
                late = least_squares(points[len(points) // 2:])[0] if len(points) >= 8 else slope
                level = sorted(y for _, y in points)[len(points) // 2]
                bound = max(floor, rel * level)
                t = math.inf if se == 0 and slope > 0 else (slope / se if se > 0 else 0.0)
                unbounded = slope * 3600 > bound and t > 3 and late * 3600 > bound / 2
                result.update(unbounded=unbounded, per_hour=round(slope * 3600, 3), late_per_hour=round(late * 3600, 3),
                              t=None if math.isinf(t) else round(t, 2), level=round(level, 3), bound_per_hour=round(bound, 3),
                              intercept=round(mean - slope * sum(x for x, _ in points) / len(points), 4), slope_per_s=slope,
                              detail=f"{slope * 3600:+.2f}/h against a bound of {bound:.2f}/h, t={t:.1f}")
            results.append(result)
        for name, column in REPORTED_ONLY:
            points = [(r["t_s"], float(r[column])) for r in window]
            if len(points) >= 2:
                results.append({"name": name, "column": column, "reported_only": True, "unbounded": False,
                                "per_hour": round(least_squares(points)[0] * 3600, 3),
                                "detail": "grows with every attachment by design (shredded rows are kept)"})
        return [r for r in results if not r.get("reported_only")] + [r for r in results if r.get("reported_only")]


def least_squares(points):
    """Slope of y over x, its standard error, and the mean of y."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0, 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in points)
    se = math.sqrt(residual / (n - 2) / sxx) if n > 2 else 0.0
    return slope, se, my


def folder_size(path, skip=None):
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(path):
        if skip:
            dirnames[:] = [d for d in dirnames if d != skip]
        for name in filenames:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
                files += 1
            except FileNotFoundError:
                pass
    return total, files


def parse_size(text):
    text = text.strip().upper()
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def log(text):
    print(text, flush=True)


def write_outputs(soak, summary, out):
    columns = list(soak.rows[0].keys())
    with open(os.path.join(out, "soak.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(soak.rows)
    with open(os.path.join(out, "events.csv"), "w", newline="") as f:
        csv.writer(f).writerows([("t_s", "event")] + soak.events)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    lines = [f"soak {'PASSED' if summary['passed'] else 'FAILED'}: {soak.a.duration / 60:.0f} min, "
             f"{summary['messages']['sent']} messages ({summary['messages']['accepted']} accepted), "
             f"{summary['messages']['delivered_copies']}/{summary['messages']['expected_copies']} copies delivered, "
             f"{summary['counts'].get('downloads_ok', 0)} downloads, {summary['counts'].get('node_restarts', 0)} node restarts"]
    for check in summary["checks"]:
        lines.append(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['check']}")
    for g in summary["growth"]:
        if g.get("reported_only"):
            lines.append(f"  [info] {g['name']}: {g['per_hour']:+}/h ({g['detail']})")
    integrity = summary["integrity"]
    lines.append(f"  [info] index {integrity.get('records')} records ({integrity.get('live')} live), node {integrity.get('pins')} pins, "
                 f"garbage pins {integrity.get('garbage_pins_erased')} (key erased) + {integrity.get('garbage_pins_unknown')} (unknown CID)")
    lines.append(f"  [info] duplicates inside the acknowledgement window (no reply to the final dot, retried): "
                 f"{len(summary['duplicates_in_ack_window'])}; tempfails retried: {summary['counts'].get('tempfail', 0)}; "
                 f"no-reply retries: {summary['counts'].get('ambiguous', 0)}; downloads retried: {summary['counts'].get('downloads_retried', 0)}")
    if summary["counts"].get("behind_ticks"):
        lines.append("  [info] the senders fell behind the requested rate at times (the machine was too slow for it)")
    for failure in summary["failures"][:20]:
        lines.append(f"  failure: {failure}")
    text = "\n".join(lines)
    open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
    write_plot(soak, summary, out)
    return text


def write_plot(soak, summary, out):
    """A gnuplot script for soak.png: one panel per resource, the fitted line over the analysis window, outages shaded."""
    col = {name: i + 1 for i, name in enumerate(soak.rows[0].keys())}
    fits = {g["column"]: g for g in summary["growth"] if g.get("slope_per_s") is not None}
    outages, down = [], None
    for t, what in soak.events:
        if what == "node killed":
            down = t
        elif what == "node up" and down is not None:
            outages.append((down, t))
            down = None
    shading = "\n".join(f"set object {i + 1} rect from {a / 60:.3f}, graph 0 to {b / 60:.3f}, graph 1 fc rgb '#f4cccc' fs solid 0.6 noborder behind"
                        for i, (a, b) in enumerate(outages))

    def fit_line(column):
        g = fits.get(column)
        if not g:
            return ""
        start, end = g["window_s"][0] / 60, g["window_s"][1] / 60
        # The fit is over seconds; the x axis is minutes.
        return (f", (x >= {start:.3f} && x <= {end:.3f} ? {g['intercept']} + {g['slope_per_s']} * x * 60 : 1/0) "
                f"with lines dt 2 lw 2 lc rgb 'black' title 'fit {g['per_hour']:+}/h'")

    def panel(title, ylabel, series, fit=None):
        # An empty field (the node was down) is missing data: gnuplot leaves a gap.
        plots = ", ".join(f"'soak.csv' using ($1/60):{col[c]} with linespoints pt 7 ps 0.4 title '{label}'" for c, label in series)
        return f"set title '{title}'\nset ylabel '{ylabel}'\nplot {plots}{fit_line(fit) if fit else ''}\n"

    script = f"""set terminal pngcairo size 1600,1200 font 'DejaVu Sans,10'
set output 'soak.png'
set datafile separator ','
set key top left
set grid
set xlabel 'minutes'
{shading}
set multiplot layout 3,2 title "detach soak: {soak.a.plain_per_min:g} plain + {soak.a.attach_per_min:g} attachment mails/min, node killed every {soak.a.restart_every / 60:g} min (shaded), {'PASSED' if summary['passed'] else 'FAILED'}"
{panel('detach resident memory', 'MiB', [('rss_mib', 'RSS')], 'rss_mib')}
{panel('detach open file descriptors and threads', 'count', [('fds', 'fds'), ('threads', 'threads')], 'fds')}
{panel('spool and temporary files', 'MiB', [('spool_mib', 'spool'), ('tmp_mib', 'tmp')])}
{panel('IPFS node: pinned objects (after ageing)', 'pins', [('pins', 'pins')], 'pins')}
{panel('IPFS node repo after gc, detach index', 'MiB', [('repo_mib', 'repo'), ('index_mib', 'index')], 'repo_mib')}
{panel('messages', 'cumulative', [('accepted', 'accepted'), ('delivered_copies', 'copies delivered'), ('downloads_ok', 'downloads')])}
unset multiplot
"""
    open(os.path.join(out, "plot.gp"), "w").write(script)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--gateway", required=True)
    p.add_argument("--ipfs-api", required=True)
    p.add_argument("--ipfs-repo", required=True)
    p.add_argument("--ipfs-port", type=int, required=True)
    p.add_argument("--ipfs-script", required=True)
    p.add_argument("--detach-pid", type=int, required=True)
    p.add_argument("--data-path", required=True)
    p.add_argument("--maildir-base", required=True)
    p.add_argument("--postfix-queue", required=True)
    p.add_argument("--mailboxes", default="alice,bob,carol")
    p.add_argument("--out", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--sample", type=float, default=60)
    p.add_argument("--node-sample-every", type=int, default=5, help="samples between two samples of the node (its gc)")
    p.add_argument("--warmup", type=float, required=True)
    p.add_argument("--plain-per-min", type=float, default=120)
    p.add_argument("--attach-per-min", type=float, default=30)
    p.add_argument("--sizes", default="8K,64K,256K,1M")
    p.add_argument("--max-attachments", type=int, default=3)
    p.add_argument("--max-recipients", type=int, default=3)
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--downloaders", type=int, default=4)
    p.add_argument("--restart-every", type=float, default=600)
    p.add_argument("--down", type=float, default=20)
    p.add_argument("--retention", type=float, default=600)
    p.add_argument("--maintenance", type=float, default=60)
    p.add_argument("--retry-after", type=float, default=20)
    p.add_argument("--smtp-timeout", type=float, default=300)
    p.add_argument("--download-patience", type=float, default=900)
    p.add_argument("--drain", type=float, default=600)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--bounds", default="", help="column=floor per hour overrides, e.g. rss_mib=16,fds=10")
    a = p.parse_args()
    a.mailboxes = [m for m in a.mailboxes.split(",") if m]
    soak = Soak(a)
    summary = soak.run()
    text = write_outputs(soak, summary, a.out)
    log(text)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
