/*
 * test_pg_deadline.c - the PostgreSQL adapter keeps its deadline while sending a query.
 *
 * A stand-in server (a forked process speaking just enough of the protocol: trust login, the
 * session settings) then stops reading, as a hung backend or a stalled network does. A statement
 * larger than the socket buffers cannot be sent: the query must fail at its deadline, not block
 * in libpq's write (RB_K_TIMEOUT). And a COPY that a cancel does not stop is given up after the
 * cancel's grace period instead of being drained to its end. Both through the driver's ops
 * (db.h), as phases call it. alarm() turns a hang into a failure instead of a stuck test.
 * The same stand-in also refuses statements with the error fields a COPY FROM sends, so the
 * driver's reading of them (SQLSTATE, fields, the COPY line, column and value from the context)
 * is pinned without a server. A socket that is listened on but never accepted stands for a hung
 * server when connecting: the connect deadline's sources (conninfo, PGCONNECT_TIMEOUT, runbook).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);

        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void put_msg(int fd, char type, const void *body, uint32_t len)
{
    unsigned char hdr[5];
    uint32_t n = htonl(len + 4);

    hdr[0] = (unsigned char)type;
    memcpy(hdr + 1, &n, 4);
    (void)!write(fd, hdr, 5);
    if (len > 0)
        (void)!write(fd, body, len);
}

static void param(int fd, const char *k, const char *v)
{
    char b[128];
    size_t kl = strlen(k) + 1, vl = strlen(v) + 1;

    memcpy(b, k, kl);
    memcpy(b + kl, v, vl);
    put_msg(fd, 'S', b, (uint32_t)(kl + vl));
}

/* Accept cancel requests and close them, as a postmaster does (the request itself is ignored). */
static void close_cancels(int ls)
{
    for (;;) {
        int c = accept(ls, NULL, NULL);

        if (c >= 0)
            close(c);
    }
}

/*
 * The fake server: log in, answer the session settings, then either never read again (stall) or
 * answer the next query with a COPY that never ends and that cancel requests do not stop (a
 * cancel routed to another server behind a load balancer does just that).
 */
enum fake_mode {
    FAKE_STALL,        /* never reads again after the session settings */
    FAKE_ENDLESS_COPY, /* answers with a COPY that never ends */
    FAKE_COPY_ERRORS,  /* refuses each statement with a COPY FROM error, then says ready */
};

/* An ErrorResponse: fields as (code, text) pairs, ending with code 0. */
static void put_error(int fd, const char *const *fields)
{
    char b[1024];
    size_t n = 0;

    for (; fields[0] != NULL; fields += 2) {
        size_t l = strlen(fields[1]) + 1;

        b[n++] = fields[0][0];
        memcpy(b + n, fields[1], l);
        n += l;
    }
    b[n++] = '\0';
    put_msg(fd, 'E', b, (uint32_t)n);
}

/* Read one frontend message and throw it away; -1 when the client went. */
static int skip_msg(int fd)
{
    unsigned char type, len4[4];
    uint32_t len;
    char *body;

    if (read_full(fd, &type, 1) < 0 || read_full(fd, len4, 4) < 0)
        return -1;
    len = ntohl(*(uint32_t *)len4) - 4;
    body = malloc(len + 1);
    if (len > 0 && read_full(fd, body, len) < 0) {
        free(body);
        return -1;
    }
    free(body);
    return 0;
}

static void serve(int ls, enum fake_mode mode)
{
    int fd = accept(ls, NULL, NULL);
    unsigned char len4[4], *body, type;
    uint32_t len, zero = 0, key[2] = { htonl(4242), htonl(1) };

    if (fd < 0)
        _exit(1);
    for (;;) { /* startup packet (after any SSL/GSS request, which we decline) */
        if (read_full(fd, len4, 4) < 0)
            _exit(1);
        len = ntohl(*(uint32_t *)len4) - 4;
        body = malloc(len);
        if (read_full(fd, body, len) < 0)
            _exit(1);
        if (len == 4 && ntohl(*(uint32_t *)body) >= 80877103u) {
            (void)!write(fd, "N", 1);
            free(body);
            continue;
        }
        free(body);
        break;
    }
    put_msg(fd, 'R', &zero, 4);
    param(fd, "server_version", "15.0");
    param(fd, "client_encoding", "UTF8");
    param(fd, "standard_conforming_strings", "on");
    param(fd, "integer_datetimes", "on");
    put_msg(fd, 'K', key, 8);
    put_msg(fd, 'Z', "I", 1);
    /* The session settings: one simple query; answer each SET, then ready. */
    if (read_full(fd, &type, 1) < 0 || read_full(fd, len4, 4) < 0)
        _exit(1);
    len = ntohl(*(uint32_t *)len4) - 4;
    body = malloc(len);
    if (read_full(fd, body, len) < 0)
        _exit(1);
    free(body);
    for (int i = 0; i < 3; i++)
        put_msg(fd, 'C', "SET", 4);
    put_msg(fd, 'Z', "I", 1);
    if (mode == FAKE_COPY_ERRORS) {
        static const char *const cast[] = {
            "S",  "ERROR",
            "V",  "ERROR",
            "C",  "22P02",
            "M",  "invalid input syntax for type integer: \"abc\"",
            "W",  "COPY rollbackctl_stage, line 3, column amount: \"abc\"",
            NULL,
        };
        static const char *const nokey[] = {
            "S",
            "ERROR",
            "V",
            "ERROR",
            "C",
            "23502",
            "M",
            "null value in column \"id\" of relation \"rollbackctl_stage\" violates "
            "not-null constraint",
            "D",
            "Failing row contains (null, 5).",
            "s",
            "pg_temp_3",
            "t",
            "rollbackctl_stage",
            "c",
            "id",
            "W",
            "COPY rollbackctl_stage, line 2: \"\\N\t5\"",
            NULL,
        };
        static const char *const cut[] = {
            "S",  "ERROR",
            "V",  "ERROR",
            "C",  "22001",
            "M",  "value too long",
            "W",  "COPY rollbackctl_stage, line 7, column memo: \"aaaaaaaaaaaa...\"",
            NULL,
        };
        const char *const *answers[] = { cast, nokey, cut };

        /* simple or extended protocol: answer at the Sync or the Query, ignore the rest */
        for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]);) {
            if (read(fd, &type, 1) != 1 || read_full(fd, len4, 4) < 0)
                _exit(0);
            len = ntohl(*(uint32_t *)len4) - 4;
            body = malloc(len + 1);
            if (len > 0 && read_full(fd, body, len) < 0)
                _exit(0);
            free(body);
            if (type != 'Q' && type != 'S')
                continue;
            put_error(fd, answers[i++]);
            put_msg(fd, 'Z', "I", 1);
        }
        while (skip_msg(fd) == 0)
            ;
        _exit(0);
    }
    if (mode == FAKE_ENDLESS_COPY) {
        static const unsigned char copy_out[] = { 0, 0, 1, 0, 0 }; /* text, one column */
        char row[64];

        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close_cancels(ls);
        }
        if (read_full(fd, &type, 1) < 0 || read_full(fd, len4, 4) < 0)
            _exit(1);
        put_msg(fd, 'H', copy_out, sizeof(copy_out));
        memset(row, 'r', sizeof(row) - 1);
        row[sizeof(row) - 1] = '\n';
        for (;;)
            put_msg(fd, 'd', row, sizeof(row));
    }
    /* Stalled: never read fd again. Cancel requests are accepted and closed. */
    close_cancels(ls);
}

/* Start the fake server in a child process; returns a connection to it. */
static struct rb_db *start_fake(struct rb_arena *a, enum fake_mode mode, pid_t *pid)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    struct rb_pg_opts o;
    struct rb_err err = RB_ERR_INIT;
    int ls = socket(AF_INET, SOCK_STREAM, 0), rcv = 4096;
    struct rb_db *c;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(ls, 8), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &sl), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        /* Never outlive the test, nor hold its output open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1);
        close(STDOUT_FILENO);
        close(STDERR_FILENO);
        serve(ls, mode);
    }
    close(ls);

    memset(&o, 0, sizeof(o));
    o.conninfo = rb_sprintf(a,
                            "host=127.0.0.1 port=%d user=u dbname=d sslmode=disable "
                            "gssencmode=disable",
                            ntohs(sin.sin_port));
    o.label = "stalled";
    c = rb_pg_connect(a, &o, &err);
    if (c == NULL)
        fprintf(stderr, "connect: %s\n", err.msg);
    assert_non_null(c);
    return c;
}

static void test_send_stalls_past_deadline(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    size_t big = 32u << 20;
    char *sql = malloc(big + 1);
    struct rb_db *c;
    struct rb_db_result *r;
    int64_t start;
    pid_t pid;

    (void)state;
    c = start_fake(a, FAKE_STALL, &pid);
    memcpy(sql, "select 1 --", 11);
    memset(sql + 11, 'x', big - 11);
    sql[big] = '\0';
    alarm(30); /* a hang is a failure, not a stuck test run */
    start = rb_now_ms();
    r = rb_db_query(c, a, 1000, sql, 0, NULL, &err);
    alarm(0);
    assert_null(r);
    /* a deadline, not a lost connection: the caller must not retry it as one */
    assert_int_equal(err.kind, RB_K_TIMEOUT);
    assert_non_null(strstr(err.msg, "cancelled after 1000 ms"));
    /* The deadline (1 s) plus at most the cancel's grace period. */
    assert_true(rb_now_ms() - start < 15000);
    assert_true(err.msg[0] != '\0');

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free(sql);
    rb_arena_free(a);
}

static void test_cancel_of_endless_copy_ends(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_db *c;
    int64_t start;
    pid_t pid;
    int rc;

    (void)state;
    c = start_fake(a, FAKE_ENDLESS_COPY, &pid);
    alarm(30);
    start = rb_now_ms();
    /* the server answers with a COPY nobody asked for: the driver cancels it, and that fails */
    rc = rb_db_exec(c, 5000, "SELECT 1", 0, NULL, &err);
    alarm(0);
    /* The cancel had no effect: give the connection up at the grace period, not drain forever. */
    assert_int_equal(rc, -1);
    assert_string_equal(err.msg, "unexpected COPY in query");
    assert_true(rb_now_ms() - start < 15000);
    /* and a cancel asked for again gives up the same way */
    start = rb_now_ms();
    alarm(30);
    assert_int_equal(rb_db_cancel(c), -1);
    alarm(0);
    assert_true(rb_now_ms() - start < 15000);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rb_arena_free(a);
}

/* The driver hands a refused statement back as fields; the COPY context becomes line/column/value. */
static void test_copy_error_fields(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_db_error e;
    struct rb_db_stmt st = { .sql = "SELECT 1", .timeout_ms = 5000, .server = &e };
    struct rb_db *c;
    pid_t pid;

    (void)state;
    c = start_fake(a, FAKE_COPY_ERRORS, &pid);
    alarm(30);

    assert_int_equal(rb_db_run(c, a, &st, NULL, &err), -1);
    assert_int_equal(err.kind, RB_K_SQL);
    assert_string_equal(err.sqlstate, "22P02");
    assert_string_equal(err.msg, "invalid input syntax for type integer: \"abc\"");
    assert_string_equal(e.sqlstate, "22P02");
    assert_string_equal(e.copy_relation, "rollbackctl_stage");
    assert_int_equal(e.copy_line, 3);
    assert_string_equal(e.copy_column, "amount");
    assert_string_equal(e.copy_value, "abc");
    assert_false(e.copy_value_null);
    assert_false(rb_db_lost(c)); /* a refused statement leaves the connection usable */

    /* a NULL key in the stage: no column in the context, the column comes as a field */
    rb_err_clear(&err);
    assert_int_equal(rb_db_run(c, a, &st, NULL, &err), -1);
    assert_string_equal(err.msg, "null value in column \"id\" of relation \"rollbackctl_stage\" "
                                 "violates not-null constraint (Failing row contains (null, 5).)");
    assert_string_equal(e.sqlstate, "23502");
    assert_string_equal(e.column, "id");
    assert_string_equal(e.table, "rollbackctl_stage");
    assert_string_equal(e.schema, "pg_temp_3");
    assert_string_equal(e.detail, "Failing row contains (null, 5).");
    assert_int_equal(e.copy_line, 2);
    assert_null(e.copy_column);

    /* a value the server cut ("...") is not known, so nobody searches for it */
    assert_int_equal(rb_db_run(c, a, &st, NULL, &err), -1);
    assert_int_equal(e.copy_line, 7);
    assert_string_equal(e.copy_column, "memo");
    assert_null(e.copy_value);
    alarm(0);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rb_arena_free(a);
}

/*
 * A server that never answers: a listening socket nobody accepts on (the kernel completes the
 * handshake, libpq sends its startup packet, nothing comes back). Connecting through the driver
 * fails at the deadline whose source libpq users expect (conninfo, then PGCONNECT_TIMEOUT, then
 * the runbook's connect_timeout), and the message names where that deadline came from.
 */
static struct rb_err connect_silent(struct rb_arena *a, const char *extra, int64_t runbook_ms)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    struct rb_pg_opts o;
    struct rb_err err = RB_ERR_INIT;
    int ls = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(ls, 8), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &sl), 0);
    memset(&o, 0, sizeof(o));
    o.conninfo = rb_sprintf(a, "host=127.0.0.1 port=%d user=u dbname=d sslmode=disable %s",
                            ntohs(sin.sin_port), extra);
    o.label = "silent";
    o.connect_timeout_ms = runbook_ms;
    alarm(30);
    assert_null(rb_pg_connect(a, &o, &err));
    alarm(0);
    close(ls);
    return err;
}

static void test_connect_deadline_sources(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err;

    (void)state;
    /* the conninfo's own connect_timeout wins over both; 1 is libpq's minimum, 2 s */
    setenv("PGCONNECT_TIMEOUT", "60", 1);
    err = connect_silent(a, "connect_timeout=1", 60000);
    assert_string_equal(err.msg, "unable to connect to 'silent': no answer within 2000 ms "
                                 "(connect_timeout=1 in the conninfo)");
    assert_int_equal(err.kind, RB_K_CONN_LOST);
    /* then the environment's, over the runbook's */
    setenv("PGCONNECT_TIMEOUT", "2", 1);
    err = connect_silent(a, "", 60000);
    assert_string_equal(err.msg, "unable to connect to 'silent': no answer within 2000 ms "
                                 "(PGCONNECT_TIMEOUT=2 in the environment)");
    /* libpq's "0: wait for ever" is no deadline: the next source decides */
    setenv("PGCONNECT_TIMEOUT", "0", 1);
    err = connect_silent(a, "connect_timeout=0", 300);
    assert_string_equal(err.msg, "unable to connect to 'silent': no answer within 300 ms "
                                 "(connect_timeout: 300ms in the runbook)");
    unsetenv("PGCONNECT_TIMEOUT");
    err = connect_silent(a, "", 300);
    assert_non_null(strstr(err.msg, "(connect_timeout: 300ms in the runbook)"));
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_stalls_past_deadline),
        cmocka_unit_test(test_cancel_of_endless_copy_ends),
        cmocka_unit_test(test_copy_error_fields),
        cmocka_unit_test(test_connect_deadline_sources),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
