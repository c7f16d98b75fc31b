#!/usr/bin/env bash
# test_layering: the layer rules of docs/architecture.md, checked on the source tree (no servers).
#
#   - a client library is included only by the adapter files that wrap it: libpq-fe.h and
#     curl/curl.h only under src/adapters/, never in a public header, and no libpq type or call
#     is named anywhere else (phases reach PostgreSQL through struct rb_db_ops, db.h);
#   - the engine alone writes the journal: no phase, command or adapter calls rb_journal_append;
#   - adapters never read runbook sections (rb->sync, rb->freeze, rb->restore, rb->checks...): they
#     get a target and the arguments of one operation.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
cd "$RB_SOURCE_DIR"

# only_under DIR FILES...: every file is under DIR (prints the ones that are not).
outside() {
  local dir=$1 f out=""
  shift
  for f in "$@"; do [[ "$f" == "$dir"/* ]] || out+="$f "; done
  printf '%s' "$out"
}

libpq=$(grep -rlE '#[[:space:]]*include[[:space:]]*<libpq-fe\.h>' src include || true)
assert_eq "" "$(outside src/adapters $libpq)" "libpq-fe.h is included only under src/adapters/"
# nor is a libpq type or call named outside them (code lines only: a comment may name a PGconn)
named=$(grep -rnE '\bPG(conn|result|cancel)\b|\bPQ[a-zA-Z]+\(' src include |
          grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' | cut -d: -f1 | sort -u || true)
assert_eq "" "$(outside src/adapters $named)" "no libpq type or call outside src/adapters/"
curl=$(grep -rlE '#[[:space:]]*include[[:space:]]*<curl/curl\.h>' src include || true)
assert_eq "" "$(outside src/adapters $curl)" "curl/curl.h is included only under src/adapters/"

writers=$(grep -rlE '\brb_journal_append[[:space:]]*\(' src | grep -vE '^src/core/' || true)
assert_eq "" "$writers" "only src/core/ writes the journal (no phase, command or adapter)"

readers=$(grep -rlE 'rb->(sync|freeze|restore|checks|verify|signals|decision|approval|communicate|prepare)\b' \
            src/adapters || true)
assert_eq "" "$readers" "no adapter reads a runbook section"

rb_ok "layering holds"
