/*
 * duration.c - the small value syntaxes of a runbook: durations ("2h30m"), RFC 3339 times and
 * `~` in paths.
 *
 * Times are converted with our own civil-date arithmetic rather than mktime()/timegm(), so the
 * result never depends on the process time zone and impossible dates (Feb 30) are rejected
 * instead of being normalised into March.
 */
#include "rollbackctl/runbook.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int64_t rb_duration_parse(const char *s)
{
    int64_t total = 0;

    if (s == NULL || *s == '\0')
        return -1;
    if (strcmp(s, "0") == 0)
        return 0;
    while (*s != '\0') {
        int64_t n = 0, unit;

        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            if (n > (INT64_MAX - 9) / 10)
                return -1;
            n = n * 10 + (*s++ - '0');
        }
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else if (*s == 'm') {
            unit = 60 * 1000;
            s++;
        } else if (*s == 'h') {
            unit = 3600 * 1000;
            s++;
        } else if (*s == 'd') {
            unit = 86400 * 1000;
            s++;
        } else {
            return -1;
        }
        /* a year of milliseconds is far below this; the cap just keeps arithmetic defined */
        if (n > INT64_MAX / unit || total > INT64_MAX / 4 - n * unit)
            return -1;
        total += n * unit;
    }
    return total;
}

const char *rb_duration_format(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
    size_t i, len = 0;

    if (outlen == 0)
        return out;
    out[0] = '\0';
    if (ms <= 0) {
        snprintf(out, outlen, ms == 0 ? "0s" : "-");
        return out;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0; i++) {
        int64_t n = ms / units[i].ms;

        if (n == 0)
            continue;
        ms -= n * units[i].ms;
        if (len < outlen)
            len += (size_t)snprintf(out + len, outlen - len, "%lld%s", (long long)n, units[i].unit);
    }
    return out;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

int rb_time_parse_rfc3339(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t t;

    if (s == NULL || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
        digits(s + 8, 2, &d) < 0)
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if (digits(s + 11, 2, &h) < 0 || s[13] != ':' || digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
        digits(s + 17, 2, &sec) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    s += 19;
    if (*s == '.') { /* fractions are accepted and dropped: the model keeps whole seconds */
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
        sign = 0;
    } else if ((*s == '+' || *s == '-') && strlen(s) == 6 && digits(s + 1, 2, &oh) == 0 &&
               s[3] == ':' && digits(s + 4, 2, &om) == 0) {
        if (oh > 23 || om > 59)
            return -1;
        sign = *s == '+' ? 1 : -1;
    } else {
        return -1;
    }
    t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    if (out != NULL)
        *out = (time_t)t;
    return 0;
}

const char *rb_time_format_rfc3339(time_t t, char *out, size_t outlen)
{
    int64_t days = (int64_t)t / 86400, rem = (int64_t)t % 86400;
    int y;
    unsigned m, d;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    snprintf(out, outlen, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
    return out;
}

const char *rb_path_expand(struct rb_arena *a, const char *path)
{
    const char *home;

    if (path == NULL)
        return NULL;
    if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
        return rb_strdup(a, path); /* ~user is left alone: no getpwnam in a loader */
    home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return rb_strdup(a, path);
    return rb_sprintf(a, "%s%s", home, path + 1);
}
