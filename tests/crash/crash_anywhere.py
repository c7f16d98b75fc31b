#!/usr/bin/python3
"""crash_anywhere.py - SIGKILL the whole rehearsal rollback at random instants, resume it to its
end, and compare the world it leaves with one uninterrupted run.

    tests/crash/crash_anywhere.py --bin BUILD/rollbackctl --sandbox DIR [--trials N] [--seed S]
                                  [--kills K] [--keep-failed DIR]

The sandbox is the rehearsal's (scripts/rehearse --no-run with RB_SANDBOX_DIR=DIR, made by
tests/crash/run, which also writes DIR/rehearsal.yaml). Once per invocation: legacy as loaded is
kept as the template database legacy_crash_tpl, the Kubernetes stand-in's objects and the DNS
record are read, and one uninterrupted reference run gives the expected end state and its
duration D. Then each trial:

  1. resets the world cheaply: legacy dropped and created again from the template (CREATE
     DATABASE ... TEMPLATE), the stand-in's objects put back (POST /_control/objects), the DNS
     record put back (nsupdate with the sandbox's TSIG key), state_dir removed;
  2. starts `execute --reason ... --yes`; an approver thread gives the second approval (SUDO_USER
     crash-approver) whenever the journal shows the run waiting for it;
  3. kills the process with SIGKILL at an instant drawn uniformly in [0, D] from its start (up to
     K kills, K drawn in 1..--kills), then runs `resume`, itself killed the same way while kills
     remain, until a resume ends uninterrupted; a resume that refuses an RB_ONCE action in flight
     ("not safe to apply twice") is answered as docs/runbook.md says: a person checks by hand
     whether it took effect (here: the statement's row in migration_log, once no session of
     rollbackctl is left on legacy) and gives the step a verify, then resumes (counted); an
     execute killed before its run journaled anything leaves nothing to resume ("no unfinished
     run"): the operator runs execute again (counted as a restart);
  4. compares the end state with the reference: every legacy table (count and md5 of its rows in
     order), the ledger (one row per table: rows, checksum and counts), the payroll DNS record
     (dig), replicas of every Deployment, suspended CronJobs and Jobs in the stand-in, each
     message received at least once, every copy of one message with one Message-ID and Date
     (SMTP sink) or one Idempotency-Key (webhook sink) and no other ids, `status` succeeded and
     the journal's hash chain valid (each prev = SHA-256 of the line before; status exit 0).

The harness's runbook is the rehearsal's with one more restore step, a `sql` step without a
verify (RB_ONCE: resume must ask a person when it was in flight) that records the rollback in
legacy's migration_log, slowed by pg_sleep so that kills do land in it. Its row has a fixed id:
a statement killed in flight still uses up a value of the serial's sequence, which would make
the row differ from the reference run's without anything being wrong.

The seed is printed first; --seed S (or RB_CRASH_SEED) replays a run exactly (the same kill
instants, from the same starts; the timing of the machine still decides where in the run an
instant falls). After the trials, a self-check proves the comparison can fail: one cent is added to a payment
in legacy (the change must be reported, for that table alone) and a wrong expected DNS record
must be reported too. Exit 0: every trial matched and the self-check passed.
The last line sums up: trials, kills, resumes, RB_ONCE answers, failures, seconds.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

ONCE_STEP = """  - name: Record the rollback in the migration log
    sql:
      target: legacy
      statement: >-
        insert into migration_log (id, event, "timestamp")
        select 1000, 'ROLLBACK_DONE', timestamp '2026-11-13 00:00:00' from pg_sleep(0.4)
"""
ONCE_VERIFY = """    verify:
      target: legacy
      sql: select count(*) = 1 from migration_log where event = 'ROLLBACK_DONE'
"""
ONCE_REFUSAL = "not safe to apply twice"
NO_RUN = "no unfinished run to resume"
CMD_TIMEOUT = 300  # seconds: a run that hangs is a failure, not a stuck test
# end_state's psql script: "name|value" lines, a table's (quote_ident) then the ledger's rows
END_STATE_SQL = r"""
select format('select %%L, count(*) || '' '' || md5(coalesce(string_agg(t::text, E''\n'' '
              'order by t::text), '''')) from %%I t', quote_ident(tablename), tablename)
  from pg_tables where schemaname = 'public' and tablename <> 'rollbackctl_ledger' order by 1
\gexec
select 'ledger', concat_ws(' ', run_id = '%s', table_name, rows, checksum, inserted, updated,
       unchanged, deleted, deletions_found) from rollbackctl_ledger order by table_name;
"""


def log(msg):
    print(msg, flush=True)


class Sandbox:
    """The rehearsal sandbox's servers, from its env file, and the rollbackctl to run."""

    def __init__(self, args):
        self.dir = os.path.abspath(args.sandbox)
        self.bin = os.path.abspath(args.bin)
        self.env = dict(os.environ)
        with open(os.path.join(self.dir, "services", "env")) as f:
            for line in f:
                m = re.match(r"export (\w+)=(.*)$", line.strip())
                if m:
                    # the file is shell: values quoted with backslashes only (scripts/services)
                    self.env[m.group(1)] = re.sub(r"\\(.)", r"\1", m.group(2))
        self.env.pop("SUDO_USER", None)
        self.env["NO_COLOR"] = "1"
        self.state_dir = os.path.join(self.dir, "state")
        self.base_runbook = os.path.join(self.dir, "rehearsal.yaml")
        self.runbook = os.path.join(self.dir, "crash.yaml")
        self.kube_dir = self.env["RB_TEST_KUBE_DIR"]
        self.kube_url = self.env["RB_TEST_KUBE_URL"]
        self.ctx = ssl.create_default_context(cafile=self.env["RB_TEST_KUBE_CA"])
        host, port = self.env["RB_TEST_DNS_SERVER"].rsplit(":", 1)
        self.dns_host, self.dns_port = host, port

    # ---- servers -------------------------------------------------------------------------
    def psql(self, db, *sqls, script=None):
        """Each of sqls in turn (its own transaction), or a psql script on stdin, in one psql:
        one process and one connection, however many statements (a trial runs many)."""
        cmds = [a for sql in sqls for a in ("-c", sql)] if script is None else ["-f", "-"]
        r = subprocess.run(
            [os.path.join(self.env["RB_TEST_PGBIN"], "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", self.env["RB_TEST_PGHOST"], "-p", self.env["RB_TEST_PGPORT"],
             "-U", self.env["RB_TEST_PGUSER"], "-d", db] + cmds,
            env=self.env, input=script, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            what = sqls[0] if script is None else script
            raise RuntimeError("psql %s: %s: %s" % (db, what[:80], r.stderr.strip()))
        return r.stdout.strip()

    def kube(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.kube_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=20) as r:
            return json.loads(r.read() or b"null")

    def kube_objects(self):
        """Every object of namespace payroll, as the stand-in keeps them."""
        st = self.kube("GET", "/_control/state")
        items = []

        def walk(o):
            if isinstance(o, dict):
                if "kind" in o and "metadata" in o:
                    if o["metadata"].get("namespace") == "payroll":
                        items.append(o)
                    return
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(st)
        return items

    def dns_record(self):
        r = subprocess.run(["dig", "+noall", "+answer", "+time=3", "+tries=2", "-p", self.dns_port,
                            "@" + self.dns_host, "payroll.example.test", "CNAME"],
                           capture_output=True, text=True, timeout=30)
        return " ".join(r.stdout.split())

    def dns_reset(self, ttl, data):
        script = ("server %s %s\nzone example.test.\nupdate delete payroll.example.test. CNAME\n"
                  "update add payroll.example.test. %s CNAME %s\nsend\n"
                  % (self.dns_host, self.dns_port, ttl, data))
        r = subprocess.run(["nsupdate", "-k", self.env["RB_TEST_TSIG_KEY_FILE"]], input=script,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("nsupdate: " + r.stderr.strip())

    # ---- rollbackctl ---------------------------------------------------------------------
    def rb(self, *args, extra_env=None, timeout=60):
        env = dict(self.env)
        env.update(extra_env or {})
        return subprocess.run([self.bin, "-f", self.runbook] + list(args), env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


class World:
    """What a run changes, saved once and put back before every trial."""

    def __init__(self, sb):
        self.sb = sb
        tpl = sb.psql("postgres", "select count(*) from pg_database where datname = 'legacy_crash_tpl'")
        if tpl == "0":
            if sb.psql("legacy", "select to_regclass('rollbackctl_ledger') is not null") == "t":
                raise RuntimeError("legacy was rolled back already: make the sandbox afresh "
                                   "(tests/crash/run does, with scripts/rehearse --reset)")
            sb.psql("postgres", "create database legacy_crash_tpl template legacy")
        # the production-like state, as scripts/services seeds it: whatever earlier runs did
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(repo, "tests", "fakes", "payroll-cluster.json")) as f:
            self.kube_items = [o for o in json.load(f)["items"] if o["kind"] != "Namespace"]
        self.dns = ("300", "new-app.example.test.")  # scripts/services.d/bind.sh's zone

    def reset(self):
        sb = self.sb
        sb.psql("postgres", "drop database if exists legacy with (force)",
                "create database legacy template legacy_crash_tpl")
        # objects a run deleted come back; the ones it changed are replaced as they were
        sb.kube("POST", "/_control/objects", {"items": self.kube_items})
        sb.dns_reset(*self.dns)
        shutil.rmtree(sb.state_dir, ignore_errors=True)


def end_state(sb, run_id):
    """Everything a rollback is judged by, with the run's own id taken out."""
    st = {}
    # one psql for all of legacy: \gexec runs the statement made for each table (its count and
    # the md5 of its rows in order), then the ledger's rows follow
    out = sb.psql("legacy", script=END_STATE_SQL % run_id)
    ledger = []
    for line in out.split("\n") if out else []:
        name, value = line.split("|", 1)
        if name == "ledger":
            ledger.append(value)
        else:
            st["table " + name] = value
    st["ledger"] = "\n".join(ledger)
    st["dns"] = sb.dns_record()
    kinds = {}
    for o in sb.kube_objects():
        k, n = o["kind"], o["metadata"]["name"]
        if k == "Deployment":
            kinds["deployment %s replicas" % n] = o["spec"].get("replicas")
        elif k == "CronJob":
            kinds["cronjob %s suspend" % n] = bool(o["spec"].get("suspend"))
        elif k == "Job":
            kinds["job %s" % n] = "present"
    st["kube"] = kinds
    st["mail"] = mails(sb, run_id)
    st["posts"] = posts(sb, run_id)
    return st


def mails(sb, run_id):
    """Message-ID -> number of copies; the copies of one id must agree on their Date."""
    out, dates = {}, {}
    d = sb.env["RB_TEST_SMTP_DIR"]
    for f in sorted(os.listdir(d)):
        if not f.endswith(".eml"):
            continue
        raw = open(os.path.join(d, f), "rb").read().decode("utf-8", "replace")
        head = raw.split("\r\n\r\n", 1)[0]
        m = re.search(r"^Message-ID: <(.*)>\r?$", head, re.M | re.I)
        if m is None or run_id not in m.group(1):
            continue
        mid = m.group(1).replace(run_id, "RUN")
        date = re.search(r"^Date: (.*)\r?$", head, re.M)
        dates.setdefault(mid, set()).add(date.group(1) if date else None)
        out[mid] = out.get(mid, 0) + 1
    return {k: ("%d copies, %d dates" % (v, len(dates[k]))) for k, v in out.items()}


def posts(sb, run_id):
    """Idempotency-Key -> copies, for the posts naming the run."""
    out = {}
    d = sb.env["RB_TEST_WEBHOOK_DIR"]
    for f in sorted(os.listdir(d)):
        if not f.endswith(".json"):
            continue
        body = open(os.path.join(d, f), encoding="utf-8", errors="replace").read()
        if run_id not in body:
            continue
        meta = json.load(open(os.path.join(d, f[:-5] + ".meta")))
        key = (meta.get("idempotency_key") or "NONE").replace(run_id, "RUN")
        out[key] = out.get(key, 0) + 1
    return out


def normalise(st):
    """Copies received at least once: the count of copies is not part of the comparison."""
    n = dict(st)
    n["mail"] = {k: v.split(", ")[1] for k, v in st["mail"].items()}
    n["posts"] = sorted(st["posts"])
    return n


def chain_ok(path):
    """The journal's hash chain: every prev the SHA-256 of the line before it."""
    prev = None
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        return "the journal does not end with a whole line"
    for i, line in enumerate(data.split(b"\n")[:-1]):
        e = json.loads(line)
        if prev is not None and e.get("prev") != prev:
            return "line %d: prev does not match the line before" % (i + 1)
        prev = hashlib.sha256(line).hexdigest()
    return None


class Approver(threading.Thread):
    """The second person: approves as soon as a journal shows the run waiting for approvals."""

    def __init__(self, sb):
        super().__init__(daemon=True)
        self.sb, self.stop, self.approved = sb, threading.Event(), set()

    def run(self):
        runs = os.path.join(self.sb.state_dir, "runs")
        while not self.stop.wait(0.05):
            try:
                ids = sorted(os.listdir(runs))
            except OSError:
                continue
            for rid in ids:
                if rid in self.approved:
                    continue
                try:
                    j = open(os.path.join(runs, rid, "journal.jsonl"), encoding="utf-8").read()
                except OSError:
                    continue
                if '"action":"approve/quorum","event":"progress"' not in j:
                    continue
                r = self.sb.rb("approve", rid, "--comment", "crash test: second person",
                               extra_env={"SUDO_USER": "crash-approver"})
                if r.returncode == 0:
                    self.approved.add(rid)


def attempt(sb, argv, kill_after):
    """Run one execute/resume; SIGKILL it kill_after seconds after it started (None: never)."""
    p = subprocess.Popen([sb.bin, "-f", sb.runbook] + argv, env=sb.env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = False
    try:
        out, _ = p.communicate(timeout=kill_after if kill_after is not None else CMD_TIMEOUT)
    except subprocess.TimeoutExpired:
        if kill_after is None:
            p.kill()
            out, _ = p.communicate()
            return -1, out + "\n(crash harness: timed out)", False
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        killed = True
    return p.returncode, out, killed


def answer_once(sb, out):
    """The documented answer to a refused RB_ONCE step: look, then give the step a verify."""
    # wait for the killed process's sessions to end, as a person checking by hand would first
    deadline = time.time() + 30
    while time.time() < deadline:
        n = sb.psql("postgres", "select count(*) from pg_stat_activity where datname = 'legacy' "
                                "and application_name = 'rollbackctl'")
        if n == "0":
            break
        time.sleep(0.05)
    took = sb.psql("legacy", "select count(*) from migration_log where event = 'ROLLBACK_DONE'")
    text = open(sb.runbook).read()
    if ONCE_VERIFY not in text:
        text = text.replace(ONCE_STEP, ONCE_STEP + ONCE_VERIFY)
        open(sb.runbook, "w").write(text)
    return took


def write_runbook(sb):
    text = open(sb.base_runbook).read()
    anchor = "\nverify:\n"
    if anchor not in text:
        raise RuntimeError("no verify: section in %s" % sb.base_runbook)
    text = text.replace(anchor, "\n" + ONCE_STEP + anchor, 1)
    open(sb.runbook, "w").write(text)


def started_runs(sb):
    """The runs in state_dir that journaled anything: none when execute was killed before making
    one, or after making its folder but before its first journal line (an empty journal, which
    resume rightly does not call unfinished: nothing happened in it)."""
    d = os.path.join(sb.state_dir, "runs")
    if not os.path.isdir(d):
        return []
    def journaled(run):
        j = os.path.join(d, run, "journal.jsonl")
        return os.path.isfile(j) and os.path.getsize(j) > 0
    return sorted(r for r in os.listdir(d) if journaled(r))


def run_to_end(sb, rng, max_kills, duration, stats, trace):
    """One trial's run: execute, then resumes, killed at random instants; returns the run id."""
    kills = rng.randint(1, max_kills) if max_kills > 0 else 0
    argv = ["execute", "--reason", "crash test", "--yes"]
    approver = Approver(sb)
    approver.start()
    try:
        for n in range(100):
            t = round(rng.uniform(0, duration), 3) if kills > 0 else None
            rc, out, killed = attempt(sb, argv, t)
            trace.append("%s%s -> %s" % (argv[0], " (kill at %.3fs)" % t if t is not None else "",
                                         "killed" if killed else "exit %d" % rc))
            if argv[0] == "resume":
                stats["resumes"] += 1
            argv = ["resume"]
            if killed:
                stats["kills"] += 1
                kills -= 1
                continue
            if rc == 0:
                break
            if rc == 1 and NO_RUN in out and not started_runs(sb):
                # killed before the run existed: nothing happened yet, so execute again
                stats["restarts"] += 1
                argv = ["execute", "--reason", "crash test", "--yes"]
                trace.append("no run yet: execute again")
                continue
            if rc == 1 and ONCE_REFUSAL in out:
                took = answer_once(sb, out)
                stats["once"] += 1
                trace.append("RB_ONCE step in flight: checked by hand (%s row), verify added" % took)
                continue
            raise RuntimeError("%s exited %d:\n%s" % (trace[-1], rc, out[-3000:]))
        else:
            raise RuntimeError("no end after 100 attempts")
    finally:
        approver.stop.set()
        approver.join()
    runs = started_runs(sb)
    if len(runs) != 1:
        raise RuntimeError("expected one run, found %s" % runs)
    return runs[0]


def check_run(sb, run_id):
    """status succeeded, the chain valid, every post keyed; returns a problem or None."""
    r = sb.rb("-o", "json", "status", run_id)
    if r.returncode != 0:
        return "status exited %d: %s" % (r.returncode, r.stderr.strip())
    s = json.loads(r.stdout)
    if s.get("outcome") != "succeeded":
        return "status says %r" % s.get("outcome")
    if "NONE" in posts(sb, run_id):
        return "a webhook post without an Idempotency-Key: its copies cannot be told apart"
    return chain_ok(os.path.join(sb.state_dir, "runs", run_id, "journal.jsonl"))


def diff(want, got):
    out = []
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            out.append("  %s: expected %r, got %r" % (k, want.get(k), got.get(k)))
    return "\n".join(out)


def self_check(sb, want, run_id):
    """The harness must see a real difference: one legacy row changed, and a wrong expectation."""
    got = normalise(end_state(sb, run_id))
    if diff(want, got):
        log("crash-anywhere: self-check skipped: the last trial failed already")
        return True
    sb.psql("legacy", "update payroll_history set net_pay = net_pay + 0.01 where payment_id = "
                      "(select max(payment_id) from payroll_history)")
    d1 = diff(want, normalise(end_state(sb, run_id)))
    wrong = dict(want)
    wrong["dns"] = want["dns"].replace("legacy-app", "new-app")
    d2 = diff(wrong, got)
    if "table payroll_history" in d1 and d1.count("\n") == 0 and "dns" in d2:
        log("crash-anywhere: self-check passed: a cent changed in legacy's payroll_history and a "
            "wrong DNS expectation are both caught")
        return True
    log("crash-anywhere: self-check FAILED: the comparison missed a difference:\n%s\n%s" % (d1, d2))
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kills", type=int, default=3, help="at most this many kills per trial")
    ap.add_argument("--keep-failed", help="copy a failed trial's state_dir under this folder")
    a = ap.parse_args()

    seed = a.seed if a.seed is not None else int(os.environ.get("RB_CRASH_SEED") or
                                                   random.SystemRandom().randrange(1, 2**31))
    log("crash-anywhere: seed %d (replay: --seed %d or RB_CRASH_SEED=%d)" % (seed, seed, seed))
    rng = random.Random(seed)
    t_start = time.time()
    sb = Sandbox(a)
    write_runbook(sb)
    world = World(sb)

    world.reset()
    t0 = time.time()
    stats = {"kills": 0, "resumes": 0, "once": 0, "restarts": 0}
    ref_trace = []
    ref_id = run_to_end(sb, rng, 0, 0, stats, ref_trace)
    duration = time.time() - t0
    problem = check_run(sb, ref_id)
    if problem is not None:
        log("crash-anywhere: the reference run is not right: " + problem)
        return 1
    want = normalise(end_state(sb, ref_id))
    log("crash-anywhere: reference run %.1fs; %d trials, kills drawn in [0, %.1fs], up to %d a "
        "trial" % (duration, a.trials, duration, a.kills))

    stats = {"kills": 0, "resumes": 0, "once": 0, "restarts": 0}
    failures = 0
    last_id = ref_id
    for i in range(1, a.trials + 1):
        trace = []
        tt = time.time()
        world.reset()
        trace.append("reset %.1fs" % (time.time() - tt))
        try:
            rid = last_id = run_to_end(sb, rng, a.kills, duration, stats, trace)
            problem = check_run(sb, rid)
            got = normalise(end_state(sb, rid))
            d = diff(want, got)
            if problem is None and d:
                problem = "end state differs from the reference run:\n" + d
        except Exception as e:  # a failing trial is reported, and the next one runs
            problem = str(e)
        status = "ok" if problem is None else "FAILED"
        log("trial %d/%d %s %.1fs: %s" % (i, a.trials, status, time.time() - tt, "; ".join(trace)))
        if problem is not None:
            failures += 1
            log("  " + problem.replace("\n", "\n  "))
            if a.keep_failed and os.path.isdir(sb.state_dir):
                dst = os.path.join(a.keep_failed, "trial-%d" % i)
                shutil.copytree(sb.state_dir, dst, dirs_exist_ok=True)
                log("  state_dir kept in " + dst)
    if not self_check(sb, want, last_id):
        failures += 1
    log("crash-anywhere: seed %d: %d trials, %d kills, %d resumes, %d RB_ONCE answers, "
        "%d restarts, %d failed, %.0fs"
        % (seed, a.trials, stats["kills"], stats["resumes"], stats["once"], stats["restarts"],
           failures, time.time() - t_start))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
