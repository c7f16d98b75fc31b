/*
 * test_http.c - rb_http_do against a tiny HTTP server forked on a loopback port: status and body,
 * method/body/headers as sent on the wire, the deadline against a server that never answers, a
 * refused connection, URLs redacted for messages, and the tree's one URL escaper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollbackctl/http.h"

enum mode { ANSWER, SILENT };

struct server {
    pid_t pid;
    int port;
    char req_file[64];
};

/*
 * Fork a server that accepts one connection, saves the request bytes to req_file, and either
 * answers "HTTP/1.1 503" with a body or says nothing until killed.
 */
static void server_start(struct server *s, enum mode mode)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    snprintf(s->req_file, sizeof(s->req_file), "/tmp/rb-test-http.%d", (int)getpid());
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        char buf[8192];
        size_t got = 0;
        int c = accept(fd, NULL, NULL);
        FILE *f;

        if (mode == SILENT) {
            pause();
            _exit(0);
        }
        /* Read until the headers end and the announced body (our requests are small) arrived. */
        for (;;) {
            ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
            char *end, *cl;

            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end == NULL)
                continue;
            cl = strstr(buf, "Content-Length: ");
            if (cl == NULL || got >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 16))
                break;
        }
        f = fopen(s->req_file, "w");
        fwrite(buf, 1, got, f);
        fclose(f);
        dprintf(
            c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
               "maintenance");
        close(c);
        _exit(0);
    }
    close(fd);
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    unlink(s->req_file);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static int setup(void **state)
{
    *state = rb_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rb_arena_free(*state);
    return 0;
}

static void test_status_body_and_request(void **state)
{
    struct rb_arena *a = *state;
    const char *hdrs[] = { "X-API-Key: k3y", "Content-Type: application/json", NULL };
    struct rb_http_request req = { "POST", NULL, "{\"user\": \"healthcheck\"}", 0, hdrs, 5000 };
    struct rb_http_response res;
    struct rb_err err = RB_ERR_INIT;
    struct server s;
    const char *sent;

    server_start(&s, ANSWER);
    req.url = rb_sprintf(a, "http://127.0.0.1:%d/login?x=1", s.port);
    assert_int_equal(rb_http_do(a, &req, &res, &err), 0);
    waitpid(s.pid, NULL, 0);
    sent = slurp(s.req_file);
    assert_int_equal(res.status, 503);
    assert_string_equal(res.body, "maintenance");
    assert_int_equal(res.body_len, 11);
    assert_non_null(strstr(sent, "POST /login?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(sent, "X-API-Key: k3y\r\n"));
    assert_non_null(strstr(sent, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(sent, "\r\n\r\n{\"user\": \"healthcheck\"}"));
    assert_null(strstr(sent, "Expect:"));
    server_stop(&s);
}

static void test_deadline(void **state)
{
    struct rb_arena *a = *state;
    struct rb_http_request req = { NULL, NULL, NULL, 0, NULL, 300 };
    struct rb_http_response res;
    struct rb_err err = RB_ERR_INIT;
    struct server s;

    server_start(&s, SILENT);
    req.url = rb_sprintf(a, "http://127.0.0.1:%d/health", s.port);
    assert_int_equal(rb_http_do(a, &req, &res, &err), -1);
    assert_string_equal(
        err.msg, rb_sprintf(a, "GET 'http://127.0.0.1:%d/health' timed out after 300ms", s.port));
    assert_true(res.duration_ms < 3000);
    server_stop(&s);
}

static void test_refused(void **state)
{
    struct rb_arena *a = *state;
    struct rb_http_request req = { NULL, "http://127.0.0.1:1/health", NULL, 0, NULL, 2000 };
    struct rb_http_response res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_http_do(a, &req, &res, &err), -1);
    assert_non_null(strstr(err.msg, "unable to reach 'http://127.0.0.1:1/health'"));
}

static void test_redact(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(rb_http_redact_url(a, "https://user:pw@host:8443/a/b?token=x#f"),
                        "https://host:8443/a/b");
    assert_string_equal(rb_http_redact_url(a, "http://host/p?q=1"), "http://host/p");
    assert_string_equal(rb_http_redact_url(a, "http://host"), "http://host");
    assert_string_equal(rb_http_redact_url(a, "not a url"), "not a url");
}

/* rb_http_escape: RFC 3986 unreserved bytes kept, every other byte %XX (upper case), UTF-8 too. */
static void test_escape(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(rb_http_escape(a, "example.org."), "example.org.");
    assert_string_equal(rb_http_escape(a, "A-Za-z0-9-._~"), "A-Za-z0-9-._~");
    assert_string_equal(rb_http_escape(a, "localhost#x"), "localhost%23x");
    assert_string_equal(rb_http_escape(a, "a/b?c=d&e f+g%"), "a%2Fb%3Fc%3Dd%26e%20f%2Bg%25");
    assert_string_equal(rb_http_escape(a, "we=5Fird.example."), "we%3D5Fird.example.");
    assert_string_equal(rb_http_escape(a, "sum(rate(x{job=\"a\"}[5m]))"),
                        "sum%28rate%28x%7Bjob%3D%22a%22%7D%5B5m%5D%29%29");
    assert_string_equal(rb_http_escape(a, "caf\xc3\xa9"), "caf%C3%A9");
    assert_string_equal(rb_http_escape(a, ""), "");
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_body_and_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test(test_escape),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
