/*
 * fuzz_dns_wire.c - DNS responses as a server (or an attacker on the path) could send them:
 * parse, render every RR's data, find and check the TSIG record. Nothing may read out of bounds,
 * loop on compression pointers or crash, whatever the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rollbackctl/dns_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key_text[] = "key \"rollback-key\" { algorithm hmac-sha256; secret "
                                   "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"; };";
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_tsig_key key;
    struct rb_tsig_info info;
    struct rb_dns_msg m;
    unsigned char mac[32] = { 0 };

    if (rb_dns_parse(a, data, size, &m, &err) == 0) {
        for (size_t i = 0; i < m.n_rrs; i++)
            if (m.rrs[i].section > 0)
                (void)rb_dns_rdata_to_text(a, data, size, &m.rrs[i]);
        (void)rb_tsig_find(data, size, &m, &info, &err);
        if (rb_tsig_key_parse(a, key_text, &key, &err) == 0)
            (void)rb_tsig_verify(data, size, &m, &key, mac, sizeof(mac), 1764000000, &err);
    }
    rb_arena_free(a);
    return 0;
}
