/*
 * fixture.h — the unit tests' one fixture builder: a temporary directory,
 * partners with real keys and certificates, the trust store, a journal.
 *
 * Layout under f->dir (removed by tu_fixture_destroy):
 *   keys/ID.key, keys/ID.cert   each partner's identity (key 0600)
 *   trust/ID.cert               the trust store: certificates only
 *   policy                      the access policy (tu_fixture_policy)
 *   NAME/                       journals (tu_fixture_journal)
 * Certificates are valid from an hour ago for a day. Every failure fails
 * the running test (cmocka assertions): a fixture never half-exists.
 */
#ifndef KNOOP_TEST_FIXTURE_H
#define KNOOP_TEST_FIXTURE_H

#include "testutil.h"
#include "journal.h"
#include "keys.h"

#include <limits.h>
#include <sys/types.h>

#define TU_FIXTURE_JOURNALS 4

typedef struct {
    char            *dir;                 /* the temporary directory */
    char             keys[PATH_MAX];      /* DIR/keys */
    char             trust[PATH_MAX];     /* DIR/trust */
    char             policy[PATH_MAX];    /* DIR/policy */
    knoop_trust_t   *store;               /* tu_fixture_trust: the loaded store */
    knoop_journal_t *journals[TU_FIXTURE_JOURNALS];
} tu_fixture_t;

/* A fresh key of id and role, in memory only (caller destroys). */
knoop_key_t *tu_key(const char *id, const char *role);
/* A fresh fixture in a new temporary directory named after name. */
tu_fixture_t *tu_fixture_new(const char *name);
/* A partner id of role: its key generated and saved in keys/, its
 * certificate copied into trust/. Returns the key (caller destroys). */
knoop_key_t *tu_fixture_partner(tu_fixture_t *f, const char *id, const char *role);
/* The same for a partner the test needs only on disk (a daemon's own key,
 * a peer broker's certificate). */
void tu_fixture_partner_files(tu_fixture_t *f, const char *id, const char *role);
/* The certificate of a partner made here, loaded from trust/ into *out. */
void tu_fixture_cert(tu_fixture_t *f, const char *id, knoop_cert_t *out);
/* Load the trust store from trust/ (again: the previous one is freed).
 * Owned by f, valid until the next call or tu_fixture_destroy. */
knoop_trust_t *tu_fixture_trust(tu_fixture_t *f);
/* Write text as the policy file f->policy (again: replaced); returns its
 * path, owned by f. */
const char *tu_fixture_policy(tu_fixture_t *f, const char *text);
/* Start knoop-broker (beside $KNOOP_BIN's directory) as id, with the key
 * keys/ID.key, trust/ and the policy file, its journal at DIR/data and its
 * stderr in DIR/log, listening on listen, plus the options in extra (NULL
 * ended, or NULL). Returns once the log says it listens (10 s at most,
 * else the test fails); the caller stops the process. */
pid_t tu_fixture_broker(tu_fixture_t *f, const char *id, const char *listen, const char *data,
                        const char *log, const char *const *extra);
/* Open a journal at DIR/name with the loaded trust store (if any) and flags
 * (journal.h); owned by f and closed by tu_fixture_destroy, or earlier by
 * the caller with tu_fixture_journal_close. */
knoop_journal_t *tu_fixture_journal(tu_fixture_t *f, const char *name, unsigned flags);
void tu_fixture_journal_close(tu_fixture_t *f, knoop_journal_t **j);
/* Path DIR/name into out (a journal directory, a file of the test's own). */
void tu_fixture_path(const tu_fixture_t *f, const char *name, char *out, size_t size);
/* Close everything, remove the directory, free f; NULL-safe, sets *f_p NULL. */
void tu_fixture_destroy(tu_fixture_t **f_p);

#endif
