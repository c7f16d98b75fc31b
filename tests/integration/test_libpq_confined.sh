#!/usr/bin/env bash
# libpq stays inside the postgres driver (issue 9): phases, checks and commands reach PostgreSQL
# only through struct rb_db_ops (include/rollbackctl/db.h), so no file outside src/adapters/ may
# include libpq-fe.h or name a libpq type. Needs no server.
set -euo pipefail
cd "$RB_SOURCE_DIR"
# code lines only: a comment may well mention a PGconn
outside=$(grep -rnE 'libpq-fe\.h|\bPG(conn|result)\b|\bPQ[a-zA-Z]+\(' src include |
    grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' | grep -v '^src/adapters/' | cut -d: -f1 | sort -u || true)
if [ -n "$outside" ]; then
    echo "FAIL: libpq used outside src/adapters/:" >&2
    echo "$outside" >&2
    exit 1
fi
inside=$(grep -rl 'libpq-fe\.h' src include)
[ "$inside" = "src/adapters/postgres_priv.h" ] || { echo "FAIL: libpq-fe.h included by: $inside" >&2; exit 1; }
echo "ok: libpq-fe.h only in src/adapters/postgres_priv.h"
