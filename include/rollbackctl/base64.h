/*
 * base64.h - the one base64 decoder of the tree (OpenSSL's EVP_DecodeUpdate underneath), strict
 * the way kubectl and BIND read base64: the standard alphabet of RFC 4648 (A-Z a-z 0-9 + /), '='
 * padding to a multiple of four, nothing else. The URL-safe alphabet ('-', '_') and whitespace are
 * refused: kubectl refuses both in a kubeconfig ("illegal base64 data at input byte N").
 */
#ifndef ROLLBACKCTL_BASE64_H
#define ROLLBACKCTL_BASE64_H

#include <stddef.h>

#include "rollbackctl/arena.h"

/*
 * Decode in[0..len) into arena memory (NUL-terminated, *outlen the decoded length). Returns 0, or
 * -1 with *bad (may be NULL) the offset of the first byte that is wrong (len when the input ends
 * too early). Arena-owned result.
 */
int rb_base64_decode(struct rb_arena *a, const char *in, size_t len, unsigned char **out,
                     size_t *outlen, size_t *bad);

#endif
