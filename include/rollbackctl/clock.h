/*
 * clock.h - the one monotonic clock every deadline and duration is measured on.
 *
 * Wall-clock time (time(), journal timestamps) can jump; deadlines, retries and the durations we
 * journal must not, so they all read CLOCK_MONOTONIC through these two functions.
 */
#ifndef ROLLBACKCTL_CLOCK_H
#define ROLLBACKCTL_CLOCK_H

#include <stdint.h>

/* Monotonic clock in milliseconds (an arbitrary origin: only differences mean anything). */
int64_t rb_now_ms(void);
/* The same in microseconds, for durations shown with two decimals. */
int64_t rb_now_us(void);

#endif
