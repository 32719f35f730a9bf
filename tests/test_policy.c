/* test_policy.c — the access policy: a realistic federation policy, its
 * decisions and refusal texts, load errors on real files, size limits, and
 * the pattern algebra (a table of cases plus an exhaustive cross-check
 * against knoop_topic_match). */
#include "fixture.h"
#include "testutil.h"
#include "policy.h"
#include "topic.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a KCR2 operator would deploy, more or less. */
static const char *const POLICY =
    "# knooppunt access policy (test federation)\n"
    "#\n"
    "# Regions publish their GRIP level, situation reports and requests for\n"
    "# assistance; they read their own GRIP topics back and every request.\n"
    "role:region      publish    grip.{id}\n"
    "role:region      publish    grip.{id}.>\n"
    "role:region      publish    sitrep.{id}.>\n"
    "role:region      publish    bijstand.{id}.>\n"
    "role:region      subscribe  grip.{id}.>\n"
    "role:region      subscribe  bijstand.>\n"
    "\n"
    "# Waterschappen: water levels and dike status.\n"
    "role:waterschap  publish    water.{id}.>\n"
    "role:waterschap  subscribe  water.>\n"
    "\n"
    "# Vital providers publish per sector: vitaal.energie.vp-tennet.storing\n"
    "role:vital       publish    vitaal.*.{id}.>\n"
    "\n"
    "# KCR2 interprets and alerts, and reads everything.\n"
    "kcr2             publish    duiding.>\n"
    "kcr2             publish    alert.>\n"
    "kcr2             subscribe  >\n"
    "\n"
    "# Observers read situation reports at every depth, in two rules.\n"
    "role:observer    subscribe  sitrep.*\n"
    "role:observer    subscribe  sitrep.*.>\n"
    "\n"
    "# Everyone reads the national interpretation and alerts.\n"
    "*                subscribe  duiding.>\n"
    "*                subscribe  alert.>\n"
    "\n"
    "# Neighbours: Utrecht follows two adjacent regions.\n"
    "vr-utrecht       subscribe  grip.vr-gooi-en-vechtstreek.>\n"
    "vr-utrecht\tsubscribe\tgrip.vr-hollands-midden\t# tab-separated, comment after\n"
    "vr-utrecht       subscribe  grip.vr-hollands-midden.>   \r\n";

#define POLICY_RULES 19

/* ---- helpers ---- */

static knoop_policy_t *s_parse_ok(const char *text)
{
    knoop_policy_t *policy = NULL;
    char err[256];
    int rc = knoop_policy_parse(text, "test", &policy, err, sizeof err);
    if (rc != KNOOP_OK)
        fail_msg("parse: %s (%s)", err, knoop_strerror(rc));
    assert_non_null(policy);
    return policy;
}

/* One decision a policy must make: may id (of role) publish on, or read,
 * topic. Tables of them, checked by S_DECIDE, name the row that fails. */
typedef enum { PUB, READ } verb_t;

typedef struct {
    verb_t      verb;
    const char *id;
    const char *role;
    const char *topic;
    bool        want;
} decision_t;

static void s_decide(const knoop_policy_t *p, const decision_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = d[i].verb == PUB
                       ? knoop_policy_may_publish(p, d[i].id, d[i].role, d[i].topic)
                       : knoop_policy_may_read(p, d[i].id, d[i].role, d[i].topic);
        if (got != d[i].want)
            fail_msg("row %zu: %s (role %s) %s %s %s; the table says otherwise", i,
                     d[i].id ? d[i].id : "(null)", d[i].role ? d[i].role : "(none)",
                     got ? "may" : "may not",
                     d[i].verb == PUB ? "publish on" : "read", d[i].topic);
    }
}

#define S_DECIDE(p, table) s_decide((p), (table), sizeof (table) / sizeof (table)[0])

/* `n` bytes of comment lines, each at most KNOOP_POLICY_LINE_MAX long. */
static char *s_comments(size_t n)
{
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, 'c', n);
    for (size_t i = 0; i < n; i += 1000) {
        text[i] = '#';
        if (i > 0)
            text[i - 1] = '\n';
    }
    text[n] = '\0';
    return text;
}

/* ---- decisions ---- */

static void test_publish_own_not_others(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    assert_int_equal(knoop_policy_rules(p), POLICY_RULES);

    static const decision_t d[] = {
        { PUB, "vr-utrecht", "region", "grip.vr-utrecht", true },
        { PUB, "vr-utrecht", "region", "grip.vr-utrecht.niveau", true },
        { PUB, "vr-utrecht", "region", "sitrep.vr-utrecht.2024.x", true },
        { PUB, "vr-utrecht", "region", "bijstand.vr-utrecht.brandweer", true },
        { PUB, "vr-utrecht", "region", "grip.vr-zeeland", false },
        { PUB, "vr-utrecht", "region", "grip.vr-zeeland.niveau", false },
        { PUB, "vr-utrecht", "region", "sitrep.vr-utrecht", false },
        { PUB, "vr-utrecht", "region", "duiding.nl", false },
        /* A prefix of the id is another id. */
        { PUB, "vr-utrecht", "region", "grip.vr-utrechtse-heuvelrug", false },
        /* Waterschap and vital provider: {id} at another depth. */
        { PUB, "ws-rijnland", "waterschap", "water.ws-rijnland.peil", true },
        { PUB, "ws-rijnland", "waterschap", "water.ws-delfland.peil", false },
        { PUB, "vp-tennet", "vital", "vitaal.energie.vp-tennet.storing", true },
        { PUB, "vp-tennet", "vital", "vitaal.telecom.vp-tennet.x.y", true },
        { PUB, "vp-tennet", "vital", "vitaal.energie.vp-enexis.storing", false },
        { PUB, "vp-tennet", "vital", "vitaal.vp-tennet.storing", false },
        { PUB, "vp-tennet", "vital", "vitaal.energie.vp-tennet", false },
        /* KCR2 by id. */
        { PUB, "kcr2", "kcr2", "duiding.nl", true },
        { PUB, "kcr2", NULL, "alert.landelijk.hoogwater", true },
        { PUB, "kcr2", "kcr2", "grip.kcr2", false },
    };
    S_DECIDE(p, d);

    char reason[512];
    knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip.vr-zeeland",
                                 reason, sizeof reason);
    assert_string_equal(reason,
        "policy: vr-utrecht may not publish on grip.vr-zeeland; it may publish on: "
        "grip.vr-utrecht, grip.vr-utrecht.>, sitrep.vr-utrecht.>, bijstand.vr-utrecht.>");
    knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip.vr-utrecht.niveau",
                                 reason, sizeof reason);
    assert_string_equal(reason, "policy: vr-utrecht may publish on grip.vr-utrecht.niveau");
    knoop_policy_destroy(&p);
    assert_null(p);
    knoop_policy_destroy(&p);        /* safe twice */
}

static void test_role_vs_id(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    static const decision_t d[] = {
        /* An id rule follows the id, whatever the role... */
        { READ, "vr-utrecht", "region", "grip.vr-gooi-en-vechtstreek.niveau", true },
        { READ, "vr-utrecht", NULL, "grip.vr-hollands-midden", true },
        { READ, "vr-utrecht", "waterschap", "grip.vr-hollands-midden.niveau", true },
        /* ...and does not spread to the others of its role. */
        { READ, "vr-zeeland", "region", "grip.vr-gooi-en-vechtstreek.niveau", false },
        { READ, "vr-zeeland", "region", "grip.vr-zeeland.niveau", true },
        /* A role rule follows the role the certificate carries, not the
         * id's look: the same id with another role gets that role's grants. */
        { PUB, "vr-utrecht", "waterschap", "water.vr-utrecht.peil", true },
        { PUB, "vr-utrecht", "waterschap", "grip.vr-utrecht", false },
        { PUB, "vr-utrecht", NULL, "grip.vr-utrecht", false },
        /* Roles compare exactly. */
        { PUB, "vr-utrecht", "Region", "grip.vr-utrecht", false },
        { PUB, "vr-utrecht", "region ", "grip.vr-utrecht", false },
        /* Ids compare exactly too. */
        { PUB, "kcr", "kcr2", "duiding.nl", false },
        { PUB, "kcr2x", "kcr2", "duiding.nl", false },
        /* publish does not imply subscribe. */
        { PUB, "vr-utrecht", "region", "sitrep.vr-utrecht.x", true },
        { READ, "vr-utrecht", "region", "sitrep.vr-utrecht.x", false },
    };
    S_DECIDE(p, d);
    knoop_policy_destroy(&p);
}

static void test_everyone_and_default_deny(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    /* '*' grants reach any valid partner, known role or not, role or none. */
    const char *roles[] = { "region", "onbekend", NULL };
    for (size_t i = 0; i < 3; i++) {
        assert_true(knoop_policy_may_read(p, "vp-nieuw", roles[i], "duiding.nl"));
        assert_true(knoop_policy_may_read(p, "vp-nieuw", roles[i], "alert.landelijk.x"));
        assert_false(knoop_policy_may_read(p, "vp-nieuw", roles[i], "duiding"));
        assert_false(knoop_policy_may_publish(p, "vp-nieuw", roles[i], "duiding.nl"));
    }
    /* An unknown role gets nothing but what '*' grants. */
    const char *topics[] = { "grip.vp-nieuw", "grip.vp-nieuw.x", "water.x.y", "sitrep.a",
                             "vitaal.energie.vp-nieuw.x", "bijstand.vr-utrecht.x", "x" };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        assert_false(knoop_policy_may_publish(p, "vp-nieuw", "onbekend", topics[i]));
        assert_false(knoop_policy_may_read(p, "vp-nieuw", "onbekend", topics[i]));
    }
    char reason[512];
    knoop_policy_explain_publish(p, "vp-nieuw", "onbekend", "duiding.nl", reason, sizeof reason);
    assert_string_equal(reason,
        "policy: vp-nieuw may not publish on duiding.nl; it may publish on: "
        "nothing (no publish rule names vp-nieuw, role:onbekend or *)");
    knoop_policy_destroy(&p);

    /* An empty policy (or one of comments) allows nothing at all. */
    p = s_parse_ok("# nothing yet\n\n   \n");
    assert_int_equal(knoop_policy_rules(p), 0);
    assert_false(knoop_policy_may_read(p, "kcr2", "kcr2", "alert.x"));
    assert_false(knoop_policy_may_publish(p, "kcr2", "kcr2", "alert.x"));
    assert_int_equal(knoop_policy_check_subscription(p, "kcr2", NULL, "alert.>",
                                                     reason, sizeof reason), KNOOP_EPERM);
    assert_string_equal(reason,
        "policy: kcr2 may not subscribe to 'alert.>'; it may read: "
        "nothing (no subscribe rule names kcr2, its role (it has none) or *)");
    knoop_policy_destroy(&p);
}

static void test_untrusted_arguments(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    /* Bad ids: never match, even '*' rules. */
    const char *ids[] = { NULL, "", "-vr", "VR-utrecht", "vr_utrecht", "vr.utrecht", "{id}" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        assert_false(knoop_policy_may_read(p, ids[i], "region", "duiding.nl"));
        assert_false(knoop_policy_may_publish(p, ids[i], "region", "grip.vr-utrecht"));
        assert_int_equal(knoop_policy_check_subscription(p, ids[i], "region", "duiding.>",
                                                         NULL, 0), KNOOP_EPERM);
    }
    /* A 65-character id is one too long. */
    char long_id[KNOOP_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_false(knoop_policy_may_read(p, long_id, NULL, "duiding.nl"));
    /* Bad topics, and patterns where a topic is due. */
    const char *bad_topics[] = { NULL, "", "duiding.", "duiding.*", "duiding.>", "duiding..nl",
                                 "Duiding.nl", ">" };
    for (size_t i = 0; i < sizeof bad_topics / sizeof bad_topics[0]; i++) {
        assert_false(knoop_policy_may_read(p, "kcr2", NULL, bad_topics[i]));
        assert_false(knoop_policy_may_publish(p, "kcr2", NULL, bad_topics[i]));
    }
    char reason[256];
    knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip.*", reason, sizeof reason);
    assert_string_equal(reason,
        "policy: vr-utrecht may not publish on 'grip.*': not a valid topic; it may publish on: "
        "grip.vr-utrecht, grip.vr-utrecht.>, sitrep.vr-utrecht.>, bijstand.vr-utrecht.>");
    knoop_policy_explain_publish(p, "vr\nutrecht\x1b[31m", "region", "grip.x", reason,
                                 sizeof reason);
    assert_string_equal(reason,
        "policy: 'vr?utrecht?[31m' is not a valid partner id; it may do nothing");
    knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip\n.x", reason, sizeof reason);
    assert_non_null(strstr(reason, "'grip?.x': not a valid topic"));
    knoop_policy_explain_publish(p, "vr-utrecht", "region", NULL, reason, sizeof reason);
    assert_non_null(strstr(reason, "'(null)': not a valid topic"));
    knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip.x", NULL, 0);
    knoop_policy_destroy(&p);
}

/* ---- subscriptions ---- */

static void test_subscription(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    char reason[512];

    const char *allowed[] = {
        "grip.vr-utrecht.>", "grip.vr-utrecht.*", "grip.vr-utrecht.niveau",
        "bijstand.>", "bijstand.*.verzoek", "bijstand.vr-zeeland.verzoek",
        "duiding.>", "duiding.*", "alert.*.*.>",
        "grip.vr-gooi-en-vechtstreek.>", "grip.vr-hollands-midden",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        strcpy(reason, "junk");
        int rc = knoop_policy_check_subscription(p, "vr-utrecht", "region", allowed[i],
                                                 reason, sizeof reason);
        if (rc != KNOOP_OK)
            fail_msg("%s refused: %s", allowed[i], reason);
        assert_string_equal(reason, "");
    }
    const char *refused[] = {
        ">", "grip.>", "grip.*", "grip.*.niveau", "grip.vr-zeeland.>", "grip.vr-utrecht",
        "sitrep.vr-utrecht.>", "duiding", "grip.vr-hollands-midden.*.>.", "water.>",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = knoop_policy_check_subscription(p, "vr-utrecht", "region", refused[i],
                                                 reason, sizeof reason);
        int want = knoop_pattern_validate(refused[i]) == KNOOP_OK ? KNOOP_EPERM : KNOOP_ETOPIC;
        if (rc != want)
            fail_msg("%s: %s", refused[i], knoop_strerror(rc));
        const char *prefix = "policy: vr-utrecht may not subscribe to '";
        assert_true(strncmp(reason, prefix, strlen(prefix)) == 0);
    }
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "grip.>",
                                                     reason, sizeof reason), KNOOP_EPERM);
    assert_string_equal(reason,
        "policy: vr-utrecht may not subscribe to 'grip.>'; it may read: "
        "grip.vr-utrecht.>, bijstand.>, duiding.>, alert.>, grip.vr-gooi-en-vechtstreek.>, "
        "grip.vr-hollands-midden, grip.vr-hollands-midden.>");

    /* Bad syntax is told apart from a refusal. */
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "grip.>.x",
                                                     reason, sizeof reason), KNOOP_ETOPIC);
    assert_string_equal(reason, "policy: vr-utrecht may not subscribe to 'grip.>.x': "
                                "not a valid pattern ('>' must be the last token)");
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", NULL,
                                                     reason, sizeof reason), KNOOP_ETOPIC);
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "",
                                                     reason, sizeof reason), KNOOP_ETOPIC);

    /* KCR2 reads everything. */
    assert_int_equal(knoop_policy_check_subscription(p, "kcr2", NULL, ">", NULL, 0), KNOOP_OK);

    /* Two patterns together: sitrep.* and sitrep.*.> cover sitrep.>. */
    assert_int_equal(knoop_policy_check_subscription(p, "obs-1", "observer", "sitrep.>",
                                                     reason, sizeof reason), KNOOP_OK);
    assert_int_equal(knoop_policy_check_subscription(p, "obs-1", "observer", "sitrep.*.x.>",
                                                     reason, sizeof reason), KNOOP_OK);
    assert_int_equal(knoop_policy_check_subscription(p, "obs-1", "observer", ">",
                                                     reason, sizeof reason), KNOOP_EPERM);
    knoop_policy_t *half = s_parse_ok("role:observer subscribe sitrep.*.>\n");
    assert_int_equal(knoop_policy_check_subscription(half, "obs-1", "observer", "sitrep.>",
                                                     reason, sizeof reason), KNOOP_EPERM);
    assert_string_equal(reason, "policy: obs-1 may not subscribe to 'sitrep.>'; "
                                "it may read: sitrep.*.>");
    assert_int_equal(knoop_policy_check_subscription(half, "obs-1", "observer", "sitrep.a.>",
                                                     reason, sizeof reason), KNOOP_OK);
    knoop_policy_destroy(&half);

    /* The list names each pattern once, after {id} expansion. */
    knoop_policy_t *dup = s_parse_ok("* subscribe a.>\nx subscribe a.>\n"
                                     "role:r subscribe b.{id}\nx subscribe b.x\n");
    assert_int_equal(knoop_policy_check_subscription(dup, "x", "r", "c",
                                                     reason, sizeof reason), KNOOP_EPERM);
    assert_string_equal(reason, "policy: x may not subscribe to 'c'; it may read: a.>, b.x");
    knoop_policy_destroy(&dup);
    knoop_policy_destroy(&p);
}

static void test_reason_truncation(void **state)
{
    knoop_policy_t *p = s_parse_ok(POLICY);
    char full[512];
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "grip.>",
                                                     full, sizeof full), KNOOP_EPERM);
    for (size_t size = 1; size <= strlen(full) + 1; size++) {
        char *reason = malloc(size);          /* exact size: ASan sees overruns */
        assert_non_null(reason);
        assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "grip.>",
                                                         reason, size), KNOOP_EPERM);
        size_t len = strlen(reason);
        assert_true(len < size);
        if (size == strlen(full) + 1) {
            assert_string_equal(reason, full);
        } else if (size >= 4) {
            assert_int_equal(len, size - 1);
            assert_string_equal(reason + len - 3, "...");
            assert_memory_equal(reason, full, len - 3);
        }
        knoop_policy_explain_publish(p, "vr-utrecht", "region", "grip.vr-zeeland", reason, size);
        assert_true(strlen(reason) < size);
        free(reason);
    }
    assert_int_equal(knoop_policy_check_subscription(p, "vr-utrecht", "region", "grip.>",
                                                     NULL, 0), KNOOP_EPERM);

    /* A huge policy costs no more to explain than the reason can hold. */
    knoop_buf_t text = { 0 };
    for (int i = 0; i < KNOOP_POLICY_RULES_MAX; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "* subscribe t%d.>\n", i);
        assert_int_equal(knoop_buf_append(&text, line, (size_t) n), KNOOP_OK);
    }
    assert_int_equal(knoop_buf_append(&text, "", 1), KNOOP_OK);
    knoop_policy_t *big = s_parse_ok((const char *) text.data);
    assert_int_equal(knoop_policy_rules(big), KNOOP_POLICY_RULES_MAX);
    char reason[200];
    assert_int_equal(knoop_policy_check_subscription(big, "vr-utrecht", NULL, "x",
                                                     reason, sizeof reason), KNOOP_EPERM);
    assert_int_equal(strlen(reason), sizeof reason - 1);
    assert_string_equal(reason + sizeof reason - 4, "...");
    assert_true(knoop_policy_may_read(big, "vr-utrecht", NULL, "t9999.x"));
    knoop_policy_destroy(&big);
    knoop_buf_free(&text);
    knoop_policy_destroy(&p);
}

/* {id} expands per partner; an expansion longer than any topic allows
 * nothing for that partner and says why. */
static void test_id_expansion(void **state)
{
    char tok[KNOOP_TOKEN_MAX + 1];
    memset(tok, 'a', KNOOP_TOKEN_MAX);
    tok[KNOOP_TOKEN_MAX] = '\0';
    char text[512];
    /* 3 tokens of 64 + {id}: 199 bytes with a 4-byte id, 259 with 64. */
    snprintf(text, sizeof text, "* publish %s.%s.%s.{id}\n* publish {id}.{id}.*\n",
             tok, tok, tok);
    knoop_policy_t *p = s_parse_ok(text);

    char topic[512];
    snprintf(topic, sizeof topic, "%s.%s.%s.vr-x", tok, tok, tok);
    assert_true(knoop_policy_may_publish(p, "vr-x", NULL, topic));
    assert_false(knoop_policy_may_publish(p, "vr-y", NULL, topic));

    char long_id[KNOOP_ID_MAX + 1];
    memset(long_id, 'b', KNOOP_ID_MAX);
    long_id[KNOOP_ID_MAX] = '\0';
    /* {id} repeated: both tokens are the asker's id. */
    assert_true(knoop_policy_may_publish(p, "vr-x", NULL, "vr-x.vr-x.z"));
    assert_false(knoop_policy_may_publish(p, "vr-x", NULL, "vr-x.vr-y.z"));
    snprintf(topic, sizeof topic, "%s.%s.z", long_id, long_id);
    assert_true(knoop_policy_may_publish(p, long_id, NULL, topic));

    char reason[512];
    knoop_policy_explain_publish(p, long_id, NULL, "q", reason, sizeof reason);
    char want[512];
    snprintf(want, sizeof want, "policy: %s may not publish on q; it may publish on: %s.%s.*",
             long_id, long_id, long_id);
    assert_string_equal(reason, want);
    knoop_policy_destroy(&p);

    /* Only the too-long rule: the reason says why nothing is left. */
    snprintf(text, sizeof text, "* publish %s.%s.%s.{id}\n", tok, tok, tok);
    p = s_parse_ok(text);
    knoop_policy_explain_publish(p, long_id, NULL, "q", reason, sizeof reason);
    assert_non_null(strstr(reason, "it may publish on: nothing (with its id, 1 rule's "
                                    "pattern is longer than 255 bytes)"));
    knoop_policy_destroy(&p);
}

/* ---- pattern algebra ---- */

typedef struct {
    const char *outer;
    const char *inner;
    bool        covers;
} covers_case_t;

static const covers_case_t COVERS[] = {
    { ">",          "a",            true  },
    { ">",          ">",            true  },
    { ">",          "a.b.c",        true  },
    { ">",          "*",            true  },
    { ">",          "a.*.>",        true  },
    { "*",          ">",            false },   /* > reaches two tokens too */
    { "*",          "a",            true  },
    { "*",          "*",            true  },
    { "a",          "*",            false },
    { "a",          "a",            true  },
    { "a",          "b",            false },
    { "ab",         "abc",          false },   /* a token is not a prefix */
    { "abc",        "ab",           false },
    { "a.>",        "a",            false },   /* > needs one token more */
    { "a.>",        "a.b",          true  },
    { "a.>",        "a.>",          true  },
    { "a.>",        "a.*",          true  },
    { "a.>",        "a.*.c",        true  },
    { "a.>",        "a.b.>",        true  },
    { "a.>",        "a.b.c.d.e",    true  },
    { "a.>",        "*.>",          false },
    { "a.>",        "b.>",          false },
    { "a.*",        "a.>",          false },
    { "a.*",        "a.b",          true  },
    { "a.*",        "a.b.c",        false },
    { "a.*",        "*.*",          false },
    { "*.b",        "a.b",          true  },
    { "*.b",        "a.c",          false },
    { "*.*",        "a.*",          true  },
    { "*.*",        "*.*",          true  },
    { "*.>",        "a.>",          true  },
    { "*.*.>",      ">",            false },
    { "a.b.>",      "a.>",          false },
    { "a.*.>",      "a.b.c",        true  },
    { "a.*.>",      "a.b",          false },
    { "a.b",        "a.b.c",        false },
    { "a.b.c",      "a.b",          false },
    { "grip.vr-utrecht.>", "grip.vr-utrecht.niveau.*", true  },
    { "grip.vr-utrecht.>", "grip.vr-utrecht",          false },
    { "grip.*.>",          "grip.vr-utrecht.>",        true  },
    /* Topics stop at KNOOP_TOPIC_DEPTH tokens: this '>' can only be one. */
    { "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.*", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.>", true  },
    { "a.b.c.d.e.f.g.h.i.j.k.l.m.n.*",   "a.b.c.d.e.f.g.h.i.j.k.l.m.n.>",   false },
    /* Invalid patterns cover nothing and are covered by nothing. */
    { ">",          "a..b",         false },
    { ">",          "",             false },
    { "a.>.b",      "a.b.c",        false },
    { "A",          "A",            false },
    { ">",          NULL,           false },
    { NULL,         "a",            false },
};

typedef struct {
    const char *a;
    const char *b;
    bool        overlaps;
} overlaps_case_t;

static const overlaps_case_t OVERLAPS[] = {
    { "a.*",        "*.b",          true  },
    { "a.>",        "a",            false },
    { ">",          "a",            true  },
    { ">",          ">",            true  },
    { "*",          ">",            true  },
    { "*",          "a.b",          false },
    { "*",          "*",            true  },
    { "a",          "a",            true  },
    { "a",          "b",            false },
    { "a.b",        "a.b.c",        false },
    { "a.>",        "*.b.c",        true  },
    { "a.*.c",      "a.b.*",        true  },
    { "a.*.c",      "a.b.d",        false },
    { "a.*",        "b.*",          false },
    { "a.>",        "b.>",          false },
    { "*.*",        "a.>",          true  },
    { "*.*.*",      "a.b",          false },
    { ">",          "a.b.c.d",      true  },
    { "a.b.>",      "a.>",          true  },
    { "a.b.>",      "a.c.>",        false },
    { "x.*",        "x",            false },
    { "*.b.>",      "a.*.c",        true  },
    { "grip.*",     "grip.vr-utrecht.>", false },
    { "grip.*.>",   "*.vr-utrecht", false },
    { "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.>", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", true },
    { "a.>.b",      "a.b.c",        false },
    { "",           ">",            false },
    { NULL,         ">",            false },
};

static void test_covers_table(void **state)
{
    assert_true(sizeof COVERS / sizeof COVERS[0] >= 30);
    for (size_t i = 0; i < sizeof COVERS / sizeof COVERS[0]; i++) {
        const covers_case_t *c = &COVERS[i];
        if (knoop_pattern_covers(c->outer, c->inner) != c->covers)
            fail_msg("covers('%s', '%s') should be %s", c->outer ? c->outer : "(null)",
                     c->inner ? c->inner : "(null)", c->covers ? "true" : "false");
    }
}

static void test_overlaps_table(void **state)
{
    assert_true(sizeof OVERLAPS / sizeof OVERLAPS[0] >= 20);
    for (size_t i = 0; i < sizeof OVERLAPS / sizeof OVERLAPS[0]; i++) {
        const overlaps_case_t *c = &OVERLAPS[i];
        if (knoop_pattern_overlaps(c->a, c->b) != c->overlaps
            || knoop_pattern_overlaps(c->b, c->a) != c->overlaps)
            fail_msg("overlaps('%s', '%s') should be %s", c->a ? c->a : "(null)",
                     c->b ? c->b : "(null)", c->overlaps ? "true" : "false");
    }
}

/* Every pattern of up to three fixed tokens over {a, b, *} with or without
 * a trailing '>', against every topic of up to five tokens over {a, b, c}
 * ('c' is a token no pattern names; five reaches past every pattern's
 * fixed part, where all '>' patterns behave alike). */
#define ALG_PATTERNS 52
#define ALG_TOPICS   363

static int s_gen_patterns(char out[][16])
{
    const char *tok[] = { "a", "b", "*" };
    int n = 0;
    for (int fixed = 0; fixed <= 3; fixed++) {
        int combos = 1;
        for (int i = 0; i < fixed; i++)
            combos *= 3;
        for (int tail = 0; tail <= 1; tail++) {
            if (fixed + tail == 0 || (fixed == 3 && tail))
                continue;
            for (int c = 0; c < combos; c++) {
                char *p = out[n++];
                p[0] = '\0';
                int v = c;
                for (int i = 0; i < fixed; i++, v /= 3) {
                    if (i)
                        strcat(p, ".");
                    strcat(p, tok[v % 3]);
                }
                if (tail)
                    strcat(p, fixed ? ".>" : ">");
            }
        }
    }
    return n;
}

static int s_gen_topics(char out[][16])
{
    const char *tok[] = { "a", "b", "c" };
    int n = 0;
    for (int depth = 1, combos = 3; depth <= 5; depth++, combos *= 3) {
        for (int c = 0; c < combos; c++) {
            char *t = out[n++];
            t[0] = '\0';
            int v = c;
            for (int i = 0; i < depth; i++, v /= 3) {
                if (i)
                    strcat(t, ".");
                strcat(t, tok[v % 3]);
            }
        }
    }
    return n;
}

static void test_algebra_exhaustive(void **state)
{
    static char pats[ALG_PATTERNS][16];
    static char topics[ALG_TOPICS][16];
    static bool match[ALG_PATTERNS][ALG_TOPICS];
    assert_int_equal(s_gen_patterns(pats), ALG_PATTERNS);
    assert_int_equal(s_gen_topics(topics), ALG_TOPICS);
    for (int i = 0; i < ALG_PATTERNS; i++) {
        assert_int_equal(knoop_pattern_validate(pats[i]), KNOOP_OK);
        for (int t = 0; t < ALG_TOPICS; t++)
            match[i][t] = knoop_topic_match(pats[i], topics[t]);
    }
    for (int i = 0; i < ALG_PATTERNS; i++) {
        for (int j = 0; j < ALG_PATTERNS; j++) {
            bool covers = true, overlaps = false;
            for (int t = 0; t < ALG_TOPICS; t++) {
                if (match[j][t] && !match[i][t])
                    covers = false;
                if (match[i][t] && match[j][t])
                    overlaps = true;
            }
            if (knoop_pattern_covers(pats[i], pats[j]) != covers)
                fail_msg("covers('%s', '%s') should be %d", pats[i], pats[j], covers);
            if (knoop_pattern_overlaps(pats[i], pats[j]) != overlaps)
                fail_msg("overlaps('%s', '%s') should be %d", pats[i], pats[j], overlaps);
        }
    }
}

/* ---- loading ---- */

/* A policy text that does not load (KNOOP_EMALFORMED), and what the error
 * says after "policy FILE:LINE: ". */
typedef struct {
    unsigned    line;
    size_t      len;        /* 0: strlen(text) */
    const char *text;
    const char *what;       /* NULL: checked by hand */
} bad_case_t;

/* The refusals the parser words the same way, around what it refuses. */
#define BAD_VERB(v)        "unknown verb '" v "' (publish, subscribe or speak-for)"
#define BAD_PARTNER(w)     "bad partner '" w "' (a partner id of a-z 0-9 - such as " \
                           "vr-utrecht, role:NAME, or * for everyone)"
#define BAD_ROLE(r)        "bad role '" r "' (role:NAME, NAME 1..32 of a-z 0-9 _ -)"
#define BAD_PATTERN(p, why) "bad pattern '" p "': " why
#define EMPTY_TOKEN        "empty token (a doubled dot, or a dot at either end)"
#define NOT_ALLOWED        " is not allowed (tokens use a-z 0-9 _ -)"
#define ID_TOKEN           "{id} must be a whole token, as in grip.{id}.>, " \
                           "and is the only placeholder"
#define TOO_MANY_FIELDS    "too many fields: expected WHO VERB PATTERN (a comment starts with #)"

static void test_load_errors_name_file_and_line(void **state)
{
    static char long_line[KNOOP_POLICY_LINE_MAX + 64];
    memset(long_line, 0, sizeof long_line);
    strcpy(long_line, "* subscribe a.>\n# ");
    size_t at = strlen(long_line);
    memset(long_line + at, 'x', KNOOP_POLICY_LINE_MAX + 1 - 2);   /* "# " + 1023 */
    static char long_pattern[400];
    strcpy(long_pattern, "* subscribe ");
    for (int i = 0; i < 5; i++)
        strcat(long_pattern, i ? ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               : "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    const bad_case_t cases[] = {
        { 3, 0, "# header\n\nvr-utrecht pub grip.{id}.>\n", BAD_VERB("pub") },
        { 1, 0, "vr-utrecht Publish grip.>\n", BAD_VERB("Publish") },
        { 1, 0, "Vr-Utrecht publish grip.>\n", BAD_PARTNER("Vr-Utrecht") },
        { 1, 0, "** publish grip.>\n", BAD_PARTNER("**") },
        { 1, 0, "regio:region publish grip.>\n", BAD_PARTNER("regio:region") },
        { 2, 0, "* subscribe a\nrole: publish grip.>\n", BAD_ROLE("role:") },
        { 1, 0, "role:Region publish grip.>\n", BAD_ROLE("role:Region") },
        { 1, 0, "* subscribe grip..x\n", BAD_PATTERN("grip..x", EMPTY_TOKEN) },
        { 1, 0, "* subscribe grip.\n", BAD_PATTERN("grip.", EMPTY_TOKEN) },
        { 1, 0, "* subscribe grip.>.x\n", BAD_PATTERN("grip.>.x", "'>' must be the last token") },
        { 1, 0, "* subscribe Grip.x\n", BAD_PATTERN("Grip.x", "character 'G'" NOT_ALLOWED) },
        { 1, 0, "* subscribe grip.vr*\n",
          BAD_PATTERN("grip.vr*", "wildcard '*' must be a whole token") },
        { 1, 0, "* subscribe grip.\xc3\xa9\n", BAD_PATTERN("grip.?" "?", "byte 0xc3" NOT_ALLOWED) },
        { 1, 0, "* subscribe a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q\n",
          BAD_PATTERN("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", "more than 16 tokens") },
        { 1, 0, "* subscribe a.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
          BAD_PATTERN("a.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...",
                      "a token is longer than 64 bytes") },
        { 1, 0, long_pattern, NULL },
        { 1, 0, "role:region publish grip.x{id}\n", BAD_PATTERN("grip.x{id}", ID_TOKEN) },
        { 1, 0, "role:region publish grip.{id}x.>\n", BAD_PATTERN("grip.{id}x.>", ID_TOKEN) },
        { 1, 0, "role:region publish grip.{role}\n", BAD_PATTERN("grip.{role}", ID_TOKEN) },
        { 1, 0, "role:region publish grip.{ id }\n", TOO_MANY_FIELDS },
        { 1, 0, "* subscribe alert.> extra\n", TOO_MANY_FIELDS },
        { 1, 0, "* subscribe alert.>#no-space\n",
          BAD_PATTERN("alert.>#no-space", "'#' starts a comment only after whitespace") },
        { 1, 0, "* subscribe\n", "missing PATTERN: expected WHO VERB PATTERN" },
        { 4, 0, "\n\n\nkcr2   # everything\n",
          "missing VERB and PATTERN: expected WHO VERB PATTERN" },
        { 2, 0, long_line, "line longer than 1024 bytes" },
        { 1, 0, "* subscribe al\x01" "ert.>\n", "control character 0x01" },
        { 2, 0, "* subscribe alert.>\n\x7f\n", "control character 0x7f" },
        { 2, 43, "* subscribe alert.>\n* subscribe duiding.>\0\n",
          "NUL byte; not a policy text file" },
    };
    tu_fixture_t *f = tu_fixture_new("policy");
    const char *path = f->policy;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        tu_write_file(path, c->text, len, 0644);
        knoop_policy_t *p = (knoop_policy_t *) (uintptr_t) 1;   /* must come back NULL */
        char err[512];
        int rc = knoop_policy_load(path, &p, err, sizeof err);
        if (rc != KNOOP_EMALFORMED)
            fail_msg("case %zu: rc %s, err %s", i, knoop_strerror(rc), err);
        assert_null(p);
        char want[PATH_MAX + 768];
        if (c->what) {
            snprintf(want, sizeof want, "policy %s:%u: %s", path, c->line, c->what);
            if (strcmp(err, want) != 0)
                fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
        } else {
            snprintf(want, sizeof want, "policy %s:%u: bad pattern '", path, c->line);
            assert_true(strncmp(err, want, strlen(want)) == 0);
            assert_non_null(strstr(err, "': longer than 255 bytes"));
        }
        /* The same text from memory names the given name. */
        if (!c->len) {
            rc = knoop_policy_parse(c->text, "embedded", &p, err, sizeof err);
            assert_int_equal(rc, KNOOP_EMALFORMED);
            assert_null(p);
            snprintf(want, sizeof want, "policy embedded:%u: ", c->line);
            assert_true(strncmp(err, want, strlen(want)) == 0);
        }
    }
    /* No name: "(text)". */
    knoop_policy_t *p = NULL;
    char err[256];
    assert_int_equal(knoop_policy_parse("x y z\n", NULL, &p, err, sizeof err), KNOOP_EMALFORMED);
    assert_string_equal(err, "policy (text):1: unknown verb 'y' (publish, subscribe or speak-for)");
    /* A small error buffer is cut, never overrun; none at all is fine. */
    char small[20];
    assert_int_equal(knoop_policy_parse("x y z\n", NULL, &p, small, sizeof small),
                     KNOOP_EMALFORMED);
    assert_string_equal(small, "policy (text):1:...");
    assert_int_equal(knoop_policy_parse("x y z\n", NULL, &p, NULL, 0), KNOOP_EMALFORMED);
    tu_fixture_destroy(&f);
}

static void test_load_good_file(void **state)
{
    tu_fixture_t *f = tu_fixture_new("policy");
    const char *path = tu_fixture_policy(f, POLICY);
    knoop_policy_t *p = NULL;
    char err[256] = "junk";
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_OK);
    assert_int_equal(knoop_policy_rules(p), POLICY_RULES);
    assert_true(knoop_policy_may_read(p, "vr-utrecht", "region", "grip.vr-hollands-midden"));
    assert_true(knoop_policy_may_read(p, "vr-utrecht", "region", "grip.vr-hollands-midden.x"));
    knoop_policy_destroy(&p);

    /* Comments, blank and whitespace-only lines, CRLF, tabs, no final
     * newline; '#' after a field starts a comment. */
    const char *text =
        "# comment\r\n"
        "\r\n"
        "   \t  \n"
        "  # indented comment\n"
        "\t*\tsubscribe\talert.>\t\t# why: everyone must see alerts\r\n"
        "kcr2 publish alert.>";
    tu_fixture_policy(f, text);
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_OK);
    assert_int_equal(knoop_policy_rules(p), 2);
    assert_true(knoop_policy_may_read(p, "vr-utrecht", NULL, "alert.x"));
    assert_true(knoop_policy_may_publish(p, "kcr2", NULL, "alert.x"));
    knoop_policy_destroy(&p);

    /* An empty file is a policy that allows nothing. */
    tu_fixture_policy(f, "");
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_OK);
    assert_int_equal(knoop_policy_rules(p), 0);
    knoop_policy_destroy(&p);
    tu_fixture_destroy(&f);
}

static void test_load_missing_and_odd_files(void **state)
{
    tu_fixture_t *f = tu_fixture_new("policy");
    const char *dir = f->dir;
    char *path = tu_path(dir, "no-such-policy");
    knoop_policy_t *p = NULL;
    char err[512];
    char want[600];

    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_ENOTFOUND);
    assert_null(p);
    snprintf(want, sizeof want, "policy %s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);

    /* A directory is not a policy. */
    assert_int_equal(knoop_policy_load(dir, &p, err, sizeof err), KNOOP_EMALFORMED);
    snprintf(want, sizeof want, "policy %s: not a regular file", dir);
    assert_string_equal(err, want);

    /* Unreadable (unless we are root, who reads anything). */
    char *locked = tu_path(dir, "locked");
    tu_write_file(locked, "* subscribe a\n", 14, 0644);
    assert_int_equal(chmod(locked, 0), 0);
    if (geteuid() != 0) {
        assert_int_equal(knoop_policy_load(locked, &p, err, sizeof err), KNOOP_EPERM);
        assert_non_null(strstr(err, ": cannot open: Permission denied"));
    }
    free(locked);
    free(path);
    tu_fixture_destroy(&f);
}

static void test_size_limits(void **state)
{
    tu_fixture_t *f = tu_fixture_new("policy");
    const char *path = f->policy;
    knoop_policy_t *p = NULL;
    char err[512];
    char want[PATH_MAX + 600];

    /* Exactly the limit loads... */
    char *text = s_comments(KNOOP_POLICY_FILE_MAX);
    tu_write_file(path, text, KNOOP_POLICY_FILE_MAX, 0644);
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_OK);
    knoop_policy_destroy(&p);
    assert_int_equal(knoop_policy_parse(text, NULL, &p, err, sizeof err), KNOOP_OK);
    knoop_policy_destroy(&p);
    free(text);

    /* ...one byte more does not. */
    text = s_comments(KNOOP_POLICY_FILE_MAX + 1);
    tu_write_file(path, text, KNOOP_POLICY_FILE_MAX + 1, 0644);
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_ETOOBIG);
    assert_null(p);
    snprintf(want, sizeof want, "policy %s: larger than 1048576 bytes", path);
    assert_string_equal(err, want);
    assert_int_equal(knoop_policy_parse(text, "big", &p, err, sizeof err), KNOOP_ETOOBIG);
    assert_string_equal(err, "policy big: larger than 1048576 bytes");
    free(text);

    /* A pipe would never end, and cannot be measured first. */
    char *fifo = tu_path(f->dir, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int keep = open(fifo, O_RDWR | O_NONBLOCK);   /* so open() below cannot block */
    assert_true(keep >= 0);
    assert_int_equal(knoop_policy_load(fifo, &p, err, sizeof err), KNOOP_EMALFORMED);
    assert_non_null(strstr(err, "not a regular file"));
    close(keep);
    free(fifo);

    /* Rule count. */
    knoop_buf_t buf = { 0 };
    for (int i = 0; i <= KNOOP_POLICY_RULES_MAX; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "role:r%d publish t.%d\n", i % 7, i);
        assert_int_equal(knoop_buf_append(&buf, line, (size_t) n), KNOOP_OK);
    }
    assert_int_equal(knoop_buf_append(&buf, "", 1), KNOOP_OK);
    assert_int_equal(knoop_policy_parse((const char *) buf.data, "many", &p, err, sizeof err),
                     KNOOP_ETOOBIG);
    assert_string_equal(err, "policy many:10001: more than 10000 rules");
    tu_write_file(path, buf.data, buf.len - 1, 0644);
    assert_int_equal(knoop_policy_load(path, &p, err, sizeof err), KNOOP_ETOOBIG);
    knoop_buf_free(&buf);
    tu_fixture_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_own_not_others),
        cmocka_unit_test(test_role_vs_id),
        cmocka_unit_test(test_everyone_and_default_deny),
        cmocka_unit_test(test_untrusted_arguments),
        cmocka_unit_test(test_subscription),
        cmocka_unit_test(test_reason_truncation),
        cmocka_unit_test(test_id_expansion),
        cmocka_unit_test(test_covers_table),
        cmocka_unit_test(test_overlaps_table),
        cmocka_unit_test(test_algebra_exhaustive),
        cmocka_unit_test(test_load_errors_name_file_and_line),
        cmocka_unit_test(test_load_good_file),
        cmocka_unit_test(test_load_missing_and_odd_files),
        cmocka_unit_test(test_size_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
