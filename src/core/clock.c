/*
 * clock.c - the monotonic clock (see clock.h).
 */
#include "rollbackctl/clock.h"

#include <errno.h>
#include <time.h>

int64_t rb_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rb_now_ms(void)
{
    return rb_now_us() / 1000;
}

void rb_sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
