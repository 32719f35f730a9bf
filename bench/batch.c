/* batch.c — see batch.h. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

bool batch_init(batch_t *b, size_t cap)
{
    *b = (batch_t) { .cap = cap,
                     .bufs = calloc(cap, sizeof *b->bufs),
                     .msgs = calloc(cap, sizeof *b->msgs),
                     .ptrs = calloc(cap, sizeof *b->ptrs),
                     .res = calloc(cap, sizeof *b->res) };
    if (b->bufs && b->msgs && b->ptrs && b->res)
        return true;
    batch_free(b);
    return false;
}

int batch_put(batch_t *b, size_t i, knoop_body_t *body, uint8_t head[KNOOP_HASH_LEN],
              const uint8_t *sk)
{
    memcpy(body->prev, head, KNOOP_HASH_LEN);
    b->bufs[i].len = 0;
    int rc = knoop_msg_build(body, sk, &b->bufs[i], head);
    if (rc == KNOOP_OK)
        rc = knoop_msg_parse(&b->msgs[i], b->bufs[i].data, b->bufs[i].len);
    b->ptrs[i] = &b->msgs[i];
    return rc;
}

void batch_clear(batch_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        knoop_msg_clear(&b->msgs[i]);
}

void batch_free(batch_t *b)
{
    for (size_t i = 0; b->bufs && i < b->cap; i++)
        knoop_buf_free(&b->bufs[i]);
    free(b->bufs);
    free(b->msgs);
    free(b->ptrs);
    free(b->res);
    *b = (batch_t) { 0 };
}
