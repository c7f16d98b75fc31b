#!/usr/bin/env bash
# SMTP faults at the communicate phase (issue 15 "Faults"), with a private sink
# (tests/fakes/smtp_sink.py) this test stops and starts:
#  - the server down: each message tried 3 times, the run ends partial (exit 1) with nothing
#    undone; the server up again on the same port: `resume` sends each message, once;
#  - the reply to DATA lost after the server accepted the message (--lose-replies 1, the classic
#    duplicate): the message is sent again and the run succeeds; the copies in the sink all carry
#    the same Message-ID, so a mail reader shows one message.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || rb_fail "python3-aiosmtpd missing (scripts/install-deps)"

T=$(rb_tmpdir)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sink_start() { # DIR [ARGS...]: the sink on $PORT, returns once it listens
  local dir=$1 i
  shift
  rm -f "$T/port"
  setsid /usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/smtp_sink.py" --port "$PORT" --port-file "$T/port" \
    --dir "$dir" "$@" </dev/null >>"$T/sink.log" 2>&1 &
  echo $! >"$T/sink.pid"
  for ((i = 0; i < 100; i++)); do
    [[ -s "$T/port" ]] && return 0
    sleep 0.1
  done
  rb_fail "the SMTP sink did not start: $(tail -5 "$T/sink.log")"
}
sink_stop() {
  local pid
  pid=$(cat "$T/sink.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$T/sink.pid"
}
rb_on_exit sink_stop
# copies DIR: "SUBJECT MESSAGE-ID" per message in the sink, sorted
copies() {
  /usr/bin/python3 - "$1" <<'PY'
import email, glob, sys
rows = []
for f in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_bytes(open(f, "rb").read())
    rows.append("%s %s" % (m["Subject"], m["Message-ID"]))
print("\n".join(sorted(rows)))
PY
}

printf 'The rollback {{outcome}}.\n' >"$T/leadership.txt"
printf 'Payroll is back on the legacy system.\n' >"$T/staff.txt"
runbook() { # FILE STATE
  cat >"$1" <<YAML
version: 1
name: smtp-faults
cutover: 2026-11-01T00:00:00Z
state_dir: $T/$2
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
  mail: { driver: smtp, url: "smtp://127.0.0.1:$PORT", from: "Rollback <rollback@example.test>", timeout: 3s }
restore:
  - name: Bring legacy back
    run: [sh, -c, "echo restored >> $T/log-$2"]
communicate:
  - name: Leadership
    via: mail
    to: [leadership@example.test]
    subject: Leadership-{{outcome}}
    template: $T/leadership.txt
  - name: Staff
    via: mail
    to: [all-staff@example.test]
    subject: Staff-{{outcome}}
    template: $T/staff.txt
YAML
}

# --- the server down, then up ----------------------------------------------------------------------
runbook "$T/down.yaml" down
assert_exit 0 "$RB_BIN" -f "$T/down.yaml" validate
assert_exit 1 "$RB_BIN" -f "$T/down.yaml" execute --reason "smtp down" --yes
assert_contains "$RB_OUT$RB_ERR" "message 'Leadership' not sent after 3 attempts: unable to connect to mail server" \
  "the server down: 3 attempts, then the reason"
assert_contains "$RB_OUT" "PARTIAL communicate" "the run ends partial"
assert_eq "restored" "$(cat "$T/log-down")" "the rollback itself was not undone or stopped"
mkdir -p "$T/mail-down"
sink_start "$T/mail-down"
assert_exit 0 "$RB_BIN" -f "$T/down.yaml" resume
assert_eq "restored" "$(cat "$T/log-down")" "resume did not run the restore again"
assert_eq 2 "$(copies "$T/mail-down" | wc -l)" "each message delivered once after the server came back"
assert_eq "Leadership-succeeded Staff-succeeded" "$(copies "$T/mail-down" | awk '{print $1}' | paste -sd' ')" \
  "both messages, telling the outcome"
sink_stop

# --- the reply to DATA lost: sent again, same Message-ID --------------------------------------------
runbook "$T/lost.yaml" lost
mkdir -p "$T/mail-lost"
sink_start "$T/mail-lost" --lose-replies 1
assert_exit 0 "$RB_BIN" -f "$T/lost.yaml" execute --reason "reply lost" --yes
c=$(copies "$T/mail-lost")
assert_eq 3 "$(wc -l <<<"$c")" "the message whose reply was lost was received twice, the other once"
first=$(head -1 <<<"$c" | awk '{print $1}')
assert_eq 2 "$(grep -c "^$first " <<<"$c")" "two copies of '$first'"
assert_eq 1 "$(grep "^$first " <<<"$c" | awk '{print $2}' | sort -u | wc -l)" "both copies carry the same Message-ID"
assert_eq 2 "$(awk '{print $2}' <<<"$c" | sort -u | wc -l)" "two messages in all, by Message-ID"
