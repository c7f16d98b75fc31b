/*
 * clock.h - the one monotonic clock every deadline and duration is measured on.
 *
 * Wall-clock time (time(), journal timestamps) can jump; deadlines, retries and the durations we
 * journal must not, so they all read CLOCK_MONOTONIC through these functions; retry backoffs
 * sleep through rb_sleep_ms.
 */
#ifndef ROLLBACKCTL_CLOCK_H
#define ROLLBACKCTL_CLOCK_H

#include <stdint.h>

/* Monotonic clock in milliseconds (an arbitrary origin: only differences mean anything). */
int64_t rb_now_ms(void);
/* The same in microseconds, for durations shown with two decimals. */
int64_t rb_now_us(void);
/* Sleep ms milliseconds, the whole time: a signal (its handler only sets a flag) does not cut it
   short. For retry backoffs, which must keep their spacing. */
void rb_sleep_ms(int64_t ms);

#endif
