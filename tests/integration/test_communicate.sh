#!/usr/bin/env bash
# The communicate phase against a real SMTP sink (python3-aiosmtpd) and a real HTTP receiver:
# every message arrives with From, To, Date, Subject (UTF-8, decoded back equal), Message-ID and
# Content-Type, and a body with no "{{" left; the copy in the run folder is byte for byte what the
# server received; AUTH with the user and password from the environment, which appear in no
# journal, output or run file; the webhook body is JSON {"text": ...}; `when:` is honoured; a
# failed rollback still sends its messages, with outcome failed; with the mail server down the run
# is partial (exit 1) and, once it is up, resume sends only what is missing, once; a wrong
# password, a webhook answering 500 and an unverifiable certificate are named as such; STARTTLS
# and smtps:// work with a private CA (ca_file); validate names an unknown template variable at
# TEMPLATE:LINE:COL and a missing template is a warning there and an error for execute. Runbooks
# are restore `run:` steps only: no database is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require smtp webhook

T=$(rb_tmpdir)
mkdir -p "$T/templates"
cp "$RB_SOURCE_DIR/config/templates/"*.txt "$T/templates/"
# a line starting with a dot (SMTP's end of data, so the client must stuff it) and a long one
printf '.signed: the rollback team\n%s\n' "$(head -c 1200 /dev/zero | tr '\0' 'x')" >>"$T/templates/leadership.txt"
export SMTP_USER=$RB_TEST_SMTP_LOGIN SMTP_PASSWORD=$RB_TEST_SMTP_SECRET
export CHAT_WEBHOOK_URL=$RB_TEST_WEBHOOK_URL

# runbook FILE STEP_COMMAND MAIL_URL [nostaff]: three messages (leadership, staff when it
# succeeded, chat); nostaff leaves staff out (each failing mail costs 3 s of retries)
runbook() {
  cat >"$1" <<YAML
version: 1
name: communicate-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$(basename "$1" .yaml)
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
  mail:
    driver: smtp
    url: $3
    from: "Payroll Rollback <rollback@example.test>"
    username_env: SMTP_USER
    password_env: SMTP_PASSWORD
    timeout: 5s
  chat: { driver: webhook, url_env: CHAT_WEBHOOK_URL, timeout: 5s }
restore:
  - name: Bring legacy back
    run: [$2]
communicate:
  - name: Leadership
    via: mail
    to: [leadership@example.test, hr@example.test]
    subject: "Dringend: Gehaltsabrechnung zurückgesetzt – {{outcome}}"
    template: templates/leadership.txt
  - name: Technical team
    via: chat
    template: templates/technical.txt
YAML
  [[ "${4:-}" == nostaff ]] || cat >>"$1" <<YAML
  - name: Staff
    via: mail
    to: [all-staff@example.test]
    subject: Payroll System Update
    template: templates/staff-pending.txt
    when: outcome == "succeeded"
YAML
}

# msgs DIR RUN_ID: "slug count" per Message-ID of that run in the sink, sorted
msgs() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import email, glob, sys, collections
c = collections.Counter()
for f in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_bytes(open(f, "rb").read())
    mid = m["Message-ID"] or ""
    if sys.argv[2] in mid:
        c[mid.split(".", 1)[1].split("@")[0]] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
PY
}

posts() { # DIR RUN_ID: number of webhook posts naming the run
  grep -l "$2" "$1"/*.json 2>/dev/null | wc -l | tr -d ' '
}

run_id_of() { ls "$1/runs" | tail -n 1; }

# ---- 1. a successful run: every message, right headers, copies, AUTH, no secret anywhere ------------
runbook "$T/ok.yaml" true "$RB_TEST_SMTP_URL"
assert_exit 0 "$RB_BIN" -f "$T/ok.yaml" plan --offline --reason "calc errors"
assert_contains "$RB_OUT" "communicate/leadership"
assert_contains "$RB_OUT" "to: leadership@example.test, hr@example.test"
assert_contains "$RB_OUT" "filled in at run time:" "plan says which values come at run time"
assert_contains "$RB_OUT" "Why we rolled back: calc errors" "plan renders the values it knows"
assert_not_contains "$RB_OUT" "{{" "no template syntax left in the plan"

assert_exit 0 "$RB_BIN" -f "$T/ok.yaml" execute --reason "calc errors ü" --yes
run=$(run_id_of "$T/state-ok")
rundir=$T/state-ok/runs/$run
assert_eq "leadership=1 staff=1" "$(msgs "$RB_TEST_SMTP_DIR" "$run")" "both mails received once"
assert_eq 1 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "the chat message posted once"

/usr/bin/python3 - "$RB_TEST_SMTP_DIR" "$run" "$rundir" <<'PY' || rb_fail "mail headers or body wrong"
import email, email.header, email.utils, glob, json, os, sys
d, run, rundir = sys.argv[1:4]
for f in sorted(glob.glob(d + "/*.eml")):
    raw = open(f, "rb").read()
    m = email.message_from_bytes(raw)
    if run not in (m["Message-ID"] or "") or ".leadership@" not in m["Message-ID"]:
        continue
    subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    assert subject == "Dringend: Gehaltsabrechnung zurückgesetzt – succeeded", subject
    assert m["From"] == "Payroll Rollback <rollback@example.test>", m["From"]
    assert [a for _, a in email.utils.getaddresses([m["To"]])] == ["leadership@example.test", "hr@example.test"], m["To"]
    assert email.utils.parsedate_to_datetime(m["Date"]) is not None
    assert m["Message-ID"] == "<%s.leadership@example.test>" % run, m["Message-ID"]
    assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
    body = m.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    assert "{{" not in body, body
    assert "calc errors ü" in body and run in body and "succeeded" in body, body
    assert "\n.signed: the rollback team\n" in body and "x" * 1200 in body, body
    meta = json.load(open(f[:-4] + ".json"))
    assert meta["auth_user"] == "rollback-mailer", meta
    assert meta["rcpt_tos"] == ["leadership@example.test", "hr@example.test"], meta
    copy = open(os.path.join(rundir, "notifications", "leadership.txt"), "rb").read()
    assert copy == raw, "the copy kept is not what the server received"
    assert oct(os.stat(os.path.join(rundir, "notifications", "leadership.txt")).st_mode & 0o777) == "0o600"
    break
else:
    raise SystemExit("no leadership mail")
PY
rb_ok "leadership mail: headers, UTF-8 subject decoded back, body filled, AUTH used, copy == received"

post=$(grep -l "$run" "$RB_TEST_WEBHOOK_DIR"/*.json | head -n 1)
assert_eq "text" "$(rb_jget "$post" '",".join(d.keys())')" "webhook body is JSON with only 'text'"
assert_contains "$(rb_jget "$post" 'd["text"]')" "Rollback \"communicate-test\" (run $run): succeeded"
assert_not_contains "$(rb_jget "$post" 'd["text"]')" "{{"
assert_eq "application/json" "$(rb_jget "${post%.json}.meta" 'd["content_type"]')"
# the post carries the message's Message-ID as its Idempotency-Key (without the angle brackets):
# a resumed communicate posts again after a crash, and the receiver tells the copies apart by it
mid=$(jq -r 'select(.event == "done" and .action == "communicate/technical-team") | .data.message_id' "$rundir/journal.jsonl")
assert_eq "<$run.technical-team@rollbackctl.invalid>" "$mid" "the chat message's Message-ID (journaled)"
assert_eq "${mid:1:${#mid}-2}" "$(rb_jget "${post%.json}.meta" 'd["idempotency_key"]')" \
  "webhook post: Idempotency-Key = the Message-ID without <>"

journal=$rundir/journal.jsonl
/usr/bin/python3 - "$journal" "$run" <<'PY' || rb_fail "journal shape of communicate actions"
import json, sys
done = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "done" and e["action"].startswith("communicate/"):
        done[e["action"]] = e["data"]
assert sorted(done) == ["communicate/leadership", "communicate/staff", "communicate/technical-team"], done
l = done["communicate/leadership"]
assert l["via"] == "mail" and l["driver"] == "smtp" and l["attempts"] == 1, l
assert l["to"] == ["leadership@example.test", "hr@example.test"], l
assert l["message_id"] == "<%s.leadership@example.test>" % sys.argv[2], l
assert l["copy"] == "notifications/leadership.txt" and l["outcome"] == "succeeded", l
t = done["communicate/technical-team"]
assert t["driver"] == "webhook" and t["copy"] == "notifications/technical-team.txt", t
PY
rb_ok "journal: one done action per message with via, driver, to, subject, message_id, attempts, copy"

all_text="$(cat "$journal" "$rundir"/notifications/* "$RB_OUT_FILE" "$RB_ERR_FILE")"
assert_not_contains "$all_text" "$SMTP_PASSWORD" "the SMTP password is in no journal, copy or output"
assert_not_contains "$all_text" "$CHAT_WEBHOOK_URL" "the secret webhook URL is in no journal, copy or output"

# ---- 2. a failed rollback still tells people, with outcome failed; staff hears nothing ----------------
runbook "$T/fail.yaml" false "$RB_TEST_SMTP_URL"
assert_exit 1 "$RB_BIN" -f "$T/fail.yaml" execute --reason "calc errors" --yes
run=$(run_id_of "$T/state-fail")
assert_eq "leadership=1" "$(msgs "$RB_TEST_SMTP_DIR" "$run")" "a failed run mails leadership, not staff (when:)"
assert_eq 1 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "and posts to chat"
assert_contains "$(cat "$(grep -l "$run" "$RB_TEST_WEBHOOK_DIR"/*.json)")" "(run $run): failed"
assert_eq "failed" "$(grep '"event":"run_finished"' "$T/state-fail/runs/$run/journal.jsonl" | tail -n 1 |
  /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["data"]["outcome"])')" \
  "the run's outcome stays failed"

# ---- 3. mail server down: partial, exit 1; up: resume sends only what is missing ---------------------
port_file=$T/down.port
sink_dir=$T/down-messages
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runbook "$T/down.yaml" true "smtp://127.0.0.1:$port" nostaff
assert_exit 1 "$RB_BIN" -f "$T/down.yaml" execute --reason "calc errors" --yes
assert_contains "$RB_OUT$RB_ERR" "finished partially"
assert_contains "$RB_OUT$RB_ERR" "message 'Leadership' not sent after 3 attempts: unable to connect to mail server"
run=$(run_id_of "$T/state-down")
assert_eq 1 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "the chat message went out although mail is down"
grep '"action":"communicate/leadership"' "$T/state-down/runs/$run/journal.jsonl" | grep -q '"event":"failed".*"attempts":3' ||
  rb_fail "the failed action records its attempts"
rb_ok "the failed message is journaled failed with attempts 3"

RB_SINK_SMTP_PASSWORD=$SMTP_PASSWORD setsid /usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/smtp_sink.py" \
  --port "$port" --port-file "$port_file" --dir "$sink_dir" --user "$SMTP_USER" --require-auth \
  </dev/null >"$T/sink.log" 2>&1 &
sink_pid=$!
rb_on_exit kill "$sink_pid"
for ((i = 0; i < 100; i++)); do [[ -s "$port_file" ]] && break; sleep 0.1; done
[[ -s "$port_file" ]] || rb_fail "private SMTP sink did not start: $(cat "$T/sink.log")"
SMTP_PASSWORD=wrong assert_exit 1 "$RB_BIN" -f "$T/down.yaml" resume
assert_contains "$RB_OUT$RB_ERR" "refused the login of target 'mail' (SMTP 535)" "a wrong password is named as such"
assert_eq "" "$(msgs "$sink_dir" "$run")" "nothing accepted without a valid login"
assert_exit 0 "$RB_BIN" -f "$T/down.yaml" resume
assert_eq "leadership=1" "$(msgs "$sink_dir" "$run")" "resume sent the missing mail once"
assert_eq 1 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "resume did not post the chat message again"
assert_contains "$RB_OUT$RB_ERR" "communicate/technical-team: already done"

# ---- 4. templates: unknown variable at TEMPLATE:LINE:COL; missing file warns, execute refuses -------
printf 'Hello\n  {{ outcome }} and {{ typo_var }}\n' >"$T/templates/bad.txt"
sed 's|templates/technical.txt|templates/bad.txt|' "$T/ok.yaml" >"$T/bad.yaml"
assert_exit 5 "$RB_BIN" -f "$T/bad.yaml" validate
assert_contains "$RB_ERR" "$T/templates/bad.txt:2:24: error: unknown variable 'typo_var'"
"$RB_BIN" -f "$T/bad.yaml" -o json validate >"$T/bad.json" || true
assert_eq "$T/templates/bad.txt 2 24" "$(rb_jget "$T/bad.json" '" ".join(str(d["errors"][0][k]) for k in ("file", "line", "col"))')" \
  "-o json names the template file of the problem"
sed 's|subject: Payroll System Update|subject: "Update {{ outcom }}"|' "$T/ok.yaml" >"$T/badsubject.yaml"
assert_exit 5 "$RB_BIN" -f "$T/badsubject.yaml" validate
assert_contains "$RB_ERR" "$T/badsubject.yaml:"
assert_contains "$RB_ERR" "in the subject of message 'Staff': unknown variable 'outcom'"
sed 's|templates/technical.txt|templates/absent.txt|' "$T/ok.yaml" >"$T/absent.yaml"
assert_exit 0 "$RB_BIN" -f "$T/absent.yaml" validate
assert_contains "$RB_ERR" "warning: template '$T/templates/absent.txt' of message 'Technical team' is not readable"
assert_exit 5 "$RB_BIN" -f "$T/absent.yaml" execute --reason x --yes
assert_contains "$RB_ERR" "error: template '$T/templates/absent.txt'"

# ---- 5. failed, then resumed to success: the business hears the final outcome as a new message -----
runbook "$T/later.yaml" "test, -f, $T/go" "$RB_TEST_SMTP_URL"
assert_exit 1 "$RB_BIN" -f "$T/later.yaml" execute --reason "calc errors" --yes
run=$(run_id_of "$T/state-later")
assert_eq "leadership=1" "$(msgs "$RB_TEST_SMTP_DIR" "$run")" "the failed attempt told leadership"
touch "$T/go"
assert_exit 0 "$RB_BIN" -f "$T/later.yaml" resume
assert_eq "leadership=1 leadership.succeeded=1 staff=1" "$(msgs "$RB_TEST_SMTP_DIR" "$run")" \
  "after the resume: the final outcome as a new message (its own Message-ID), staff once"
assert_eq 2 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "chat heard 'failed' and then 'succeeded'"
assert_contains "$(cat "$T/state-later/runs/$run/journal.jsonl")" '"action":"communicate/leadership/succeeded"'

# ---- 6. the webhook answers 500: the reason with the status and the body, then resume posts -------
cat >"$T/chat.yaml" <<YAML
version: 1
name: communicate-chat
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-chat
targets:
  chat: { driver: webhook, url_env: CHAT_WEBHOOK_URL, timeout: 5s }
restore:
  - name: Bring legacy back
    run: ["true"]
communicate:
  - name: Technical team
    via: chat
    template: templates/technical.txt
YAML
touch "$RB_TEST_WEBHOOK_DIR/answer-500"
rb_on_exit rm -f "$RB_TEST_WEBHOOK_DIR/answer-500"
assert_exit 1 "$RB_BIN" -f "$T/chat.yaml" execute --reason "calc errors" --yes
assert_contains "$RB_OUT$RB_ERR" "webhook the URL in \$CHAT_WEBHOOK_URL of target 'chat' answered HTTP 500: receiver failing on purpose"
assert_not_contains "$RB_OUT$RB_ERR" "$CHAT_WEBHOOK_URL" "the secret URL is not in the error"
rm -f "$RB_TEST_WEBHOOK_DIR/answer-500"
run=$(run_id_of "$T/state-chat")
assert_exit 0 "$RB_BIN" -f "$T/chat.yaml" resume
assert_eq 1 "$(posts "$RB_TEST_WEBHOOK_DIR" "$run")" "posted once the receiver works again"

# ---- 7. TLS: STARTTLS on smtp:// and TLS from the start on smtps://, the certificate verified ------
command -v openssl >/dev/null || rb_fail "openssl is needed for the TLS case (scripts/install-deps)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 2 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
# tls_sink MODE: start a private sink speaking MODE (starttls|smtps); prints its port
tls_sink() {
  local pf=$T/$1.port i
  RB_SINK_SMTP_PASSWORD=$SMTP_PASSWORD setsid /usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/smtp_sink.py" \
    --port-file "$pf" --dir "$T/$1-messages" --user "$SMTP_USER" --require-auth --tls "$1" \
    --tls-cert "$T/tls.crt" --tls-key "$T/tls.key" </dev/null >"$T/$1.log" 2>&1 &
  echo $! >"$T/$1.pid"
  for ((i = 0; i < 100; i++)); do [[ -s "$pf" ]] && break; sleep 0.1; done
  [[ -s "$pf" ]] || rb_fail "the $1 sink did not start: $(cat "$T/$1.log")"
  cat "$pf"
}
starttls_port=$(tls_sink starttls)
rb_on_exit kill "$(cat "$T/starttls.pid")"
smtps_port=$(tls_sink smtps)
rb_on_exit kill "$(cat "$T/smtps.pid")"
# tls_runbook FILE URL [CA_FILE]: one mail
tls_runbook() {
  cat >"$1" <<YAML
version: 1
name: communicate-tls
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$(basename "$1" .yaml)
targets:
  mail: { driver: smtp, url: "$2", from: rollback@example.test, username_env: SMTP_USER,
          password_env: SMTP_PASSWORD, timeout: 5s${3:+, ca_file: $3} }
restore:
  - name: Bring legacy back
    run: ["true"]
communicate:
  - name: Leadership
    via: mail
    to: [leadership@example.test]
    template: templates/leadership.txt
YAML
}
tls_runbook "$T/starttls.yaml" "smtp://127.0.0.1:$starttls_port" "$T/tls.crt"
assert_exit 0 "$RB_BIN" -f "$T/starttls.yaml" execute --reason tls --yes
tls_runbook "$T/smtps.yaml" "smtps://127.0.0.1:$smtps_port" "$T/tls.crt"
assert_exit 0 "$RB_BIN" -f "$T/smtps.yaml" execute --reason tls --yes
assert_eq "true true" "$(cat "$T"/starttls-messages/*.json "$T"/smtps-messages/*.json |
  /usr/bin/python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["tls"]).lower() for l in sys.stdin.read().replace("}{", "}\n{").splitlines()))')" \
  "both mails went over TLS (STARTTLS, then smtps), logged in"
tls_runbook "$T/untrusted.yaml" "smtps://127.0.0.1:$smtps_port"
assert_exit 1 "$RB_BIN" -f "$T/untrusted.yaml" execute --reason tls --yes
assert_contains "$RB_OUT$RB_ERR" "message 'Leadership' not sent after 3 attempts: the certificate of mail server 'smtps://127.0.0.1:$smtps_port' of target 'mail' could not be verified" "a certificate no CA vouches for is refused"
