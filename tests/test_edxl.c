/* test_edxl.c — EDXL-DE 2.0 wrapping (lib/edxl.h): every payload of the demo
 * scenario (every crisis type) survives wrap -> unwrap with the same
 * protobuf bytes, wrap(unwrap(doc)) gives doc back byte for byte, the CAP
 * corpus travels embedded, bad distributions are refused naming the field,
 * a document in the older lowerCamelCase spelling still unwraps, and damaged
 * documents never crash the codec. */
#include "testutil.h"
#include "cap.h"
#include "edxl.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_src_file(const char *rel, size_t *len)
{
    const char *src = getenv("KNOOP_SRC");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src, rel);
    char *text = tu_read_file(path, len);
    if (!text)
        fail_msg("cannot read %s", path);
    return text;
}

/* The source file rel unwrapped (the test fails, naming rel, if it does
 * not unwrap); its text into *text for the caller to look at and free. */
static json_t *s_unwrap_src(const char *rel, char **text)
{
    size_t len;
    *text = s_src_file(rel, &len);
    json_t *dist = NULL;
    char err[512];
    if (knoop_edxl_unwrap(*text, len, &dist, err, sizeof err))
        fail_msg("%s: %s", rel, err);
    return dist;
}

static json_t *s_header(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:[s,s]}], s:[]}",
                     "distributionID", "kcr2-2021-0715-0001", "senderID", "kcr2",
                     "dateTimeSent", "2021-07-15T01:00:00+02:00",
                     "dateTimeExpires", "2021-07-16T01:00:00+02:00",
                     "distributionStatus", "Exercise", "distributionKind", "Report",
                     "language", "nl-NL",
                     "explicitAddress", "scheme", "knooppunt", "value", "vr-utrecht", "kcr2",
                     "content");
}

static void s_encode(const char *type, const json_t *payload, knoop_buf_t *out)
{
    char err[256];
    out->len = 0;
    if (knoop_payload_from_json(type, payload, out, err, sizeof err))
        fail_msg("%s: %s", type, err);
}

/* Every typed line of the demo scenario, wrapped in one distribution. */
static void test_scenario_round_trip(void **state)
{
    (void) state;
    size_t len;
    char *text = s_src_file("deploy/scenarios/limburg-2021.jsonl", &len);
    json_t *dist = s_header();
    json_t *content = json_object_get(dist, "content");
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (*line == '#')
            continue;
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        if (json_object_get(o, "type"))
            json_array_append_new(content, json_pack("{s:O, s:O, s:s}", "type",
                                  json_object_get(o, "type"), "payload",
                                  json_object_get(o, "payload"), "description", "uit het draaiboek"));
        json_decref(o);
    }
    free(text);
    size_t n = json_array_size(content);
    assert_true(n >= 50);
    const char *types[] = { "GripLevel", "SitRep", "Duiding", "WaterLevel", "VitalOutage",
                            "Alert", "ResourceRequest" };
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        bool seen = false;
        size_t i;
        json_t *item;
        json_array_foreach(content, i, item)
            seen |= strstr(json_string_value(json_object_get(item, "type")), types[t]) != NULL;
        if (!seen)
            fail_msg("the scenario has no %s: the round trip would not cover every type",
                     types[t]);
    }
    knoop_buf_t xml = { 0 }, xml2 = { 0 }, a = { 0 }, b = { 0 };
    char err[512];
    int rc = knoop_edxl_wrap(dist, &xml, err, sizeof err);
    if (rc)
        fail_msg("wrap: %s", err);
    json_t *back = NULL;
    rc = knoop_edxl_unwrap((const char *) xml.data, xml.len, &back, err, sizeof err);
    if (rc)
        fail_msg("unwrap: %s", err);
    static const char *const fields[] = { "distributionID", "senderID", "dateTimeSent",
        "dateTimeExpires", "distributionStatus", "distributionKind", "language",
        "explicitAddress" };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        assert_true(json_equal(json_object_get(dist, fields[i]),
                               json_object_get(back, fields[i])));
    json_t *bc = json_object_get(back, "content");
    assert_int_equal(json_array_size(bc), n);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(content, i), *y = json_array_get(bc, i);
        const char *type = json_string_value(json_object_get(x, "type"));
        assert_string_equal(type, json_string_value(json_object_get(y, "type")));
        assert_string_equal("uit het draaiboek",
                            json_string_value(json_object_get(y, "description")));
        s_encode(type, json_object_get(x, "payload"), &a);
        s_encode(type, json_object_get(y, "payload"), &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len))
            fail_msg("content[%zu] (%s) changed on the way", i, type);
    }
    /* and the document comes back byte for byte from its own unwrap */
    rc = knoop_edxl_wrap(back, &xml2, err, sizeof err);
    if (rc)
        fail_msg("wrap again: %s", err);
    assert_int_equal(xml.len, xml2.len);
    assert_memory_equal(xml.data, xml2.data, xml.len);
    json_decref(back);
    json_decref(dist);
    knoop_buf_free(&xml);
    knoop_buf_free(&xml2);
    knoop_buf_free(&a);
    knoop_buf_free(&b);
}

/* The CAP corpus travels embedded: the alert inside is the same (C14N). */
static void test_cap_embedded(void **state)
{
    (void) state;
    static const char *const docs[] = { "02-nl-alert-evacuatie.xml", "03-tweetalig-besloten.xml",
        "10-resources-deref.xml", "14-handtekening-statisch.xml" };
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/cap/valid/%s", docs[d]);
        size_t len;
        char *cap = s_src_file(rel, &len);
        knoop_buf_t pb = { 0 }, xml = { 0 }, out = { 0 }, c1 = { 0 }, c2 = { 0 };
        char err[512];
        assert_int_equal(knoop_cap_import(cap, len, &pb, NULL, err, sizeof err), KNOOP_OK);
        json_t *payload = NULL;
        assert_int_equal(knoop_payload_to_json(KNOOP_CAP_TYPE, pb.data, pb.len, &payload), 0);
        json_t *dist = s_header();
        json_array_append_new(json_object_get(dist, "content"),
                              json_pack("{s:s, s:o}", "type", KNOOP_CAP_TYPE, "payload", payload));
        if (knoop_edxl_wrap(dist, &xml, err, sizeof err))
            fail_msg("%s: wrap: %s", docs[d], err);
        json_t *back = NULL;
        if (knoop_edxl_unwrap((const char *) xml.data, xml.len, &back, err, sizeof err))
            fail_msg("%s: unwrap: %s", docs[d], err);
        json_t *p2 = json_object_get(json_array_get(json_object_get(back, "content"), 0),
                                     "payload");
        knoop_buf_t pb2 = { 0 };
        s_encode(KNOOP_CAP_TYPE, p2, &pb2);
        assert_int_equal(knoop_cap_export(pb2.data, pb2.len, &out, err, sizeof err), 0);
        assert_int_equal(knoop_xml_c14n(cap, len, &c1, err, sizeof err), 0);
        assert_int_equal(knoop_xml_c14n((const char *) out.data, out.len, &c2, err, sizeof err),
                         0);
        if (c1.len != c2.len || memcmp(c1.data, c2.data, c1.len))
            fail_msg("%s changed inside EDXL", docs[d]);
        json_decref(back);
        json_decref(dist);
        free(cap);
        knoop_buf_free(&pb);
        knoop_buf_free(&pb2);
        knoop_buf_free(&xml);
        knoop_buf_free(&out);
        knoop_buf_free(&c1);
        knoop_buf_free(&c2);
    }
}

static void test_wrap_refusals(void **state)
{
    (void) state;
    static const struct { const char *field; const char *value; const char *expect; } cases[] = {
        { "dateTimeSent", "2021-07-15T01:00:00Z", "dateTimeSent: '2021-07-15T01:00:00Z'" },
        { "dateTimeExpires", "morgen", "dateTimeExpires: 'morgen'" },
        { "distributionStatus", "Draft", "distributionStatus: 'Draft'" },
        { "distributionKind", "Alert", "distributionKind: 'Alert'" },
        { "senderID", "", "senderID: not a non-empty string" },
        { "verzender", "x", "verzender: not a field of a distribution" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *dist = s_header();
        json_array_append_new(json_object_get(dist, "content"),
            json_pack("{s:s, s:{s:s}}", "type", "knoop.crisis.v1.Duiding", "payload",
                      "title", "x"));
        json_object_set_new(dist, cases[i].field, json_string(cases[i].value));
        knoop_buf_t xml = { 0 };
        char err[512] = "";
        assert_int_not_equal(knoop_edxl_wrap(dist, &xml, err, sizeof err), KNOOP_OK);
        if (!strstr(err, cases[i].expect))
            fail_msg("refusal '%s' does not say '%s'", err, cases[i].expect);
        assert_int_equal(xml.len, 0);
        json_decref(dist);
        knoop_buf_free(&xml);
    }
    json_t *dist = s_header();
    knoop_buf_t xml = { 0 };
    char err[512] = "";
    assert_int_not_equal(knoop_edxl_wrap(dist, &xml, err, sizeof err), KNOOP_OK);
    assert_non_null(strstr(err, "content: an array of 1.."));
    json_array_append_new(json_object_get(dist, "content"),
                          json_pack("{s:s, s:{}}", "type", "knoop.crisis.v1.Onbekend", "payload"));
    assert_int_equal(knoop_edxl_wrap(dist, &xml, err, sizeof err), KNOOP_ENOTFOUND);
    assert_non_null(strstr(err, "content[1]: unknown payload type 'knoop.crisis.v1.Onbekend'"));
    json_decref(dist);

    /* A target area using a prefix it does not declare would be written
     * into a document that unwrap refuses (not namespace-well-formed). */
    dist = s_header();
    json_array_append_new(json_object_get(dist, "content"),
        json_pack("{s:s, s:{s:s}}", "type", "knoop.crisis.v1.Duiding", "payload", "title", "x"));
    json_object_set_new(dist, "targetArea",
                        json_pack("[s]", "<TargetArea xmlns=\"urn:oasis:names:tc:emergency:EDXL:DE:2.0\">"
                                         "<zz:circle>50.6,5.5 3</zz:circle></TargetArea>"));
    assert_int_equal(knoop_edxl_wrap(dist, &xml, err, sizeof err), KNOOP_EMALFORMED);
    if (!strstr(err, "<zz:circle> uses a namespace prefix it does not declare"))
        fail_msg("refusal '%s' does not name <zz:circle>", err);
    assert_int_equal(xml.len, 0);
    json_decref(dist);
    knoop_buf_free(&xml);
}

/* A document in the lowerCamelCase spelling knooppunt wrote before it
 * followed the EDXL-DE 2.0 schema still unwraps, to the same distribution as
 * its 2.0 twin; wrap writes the 2.0 names (and renames an old <targetArea>
 * kept in a distribution object). */
static void test_old_spelling(void **state)
{
    (void) state;
    char *old, *new;
    json_t *a = s_unwrap_src("tests/edxl/old-format/01-hub-met-cap-lowercamel.xml", &old);
    json_t *b = s_unwrap_src("tests/edxl/valid/01-hub-met-cap.xml", &new);
    assert_non_null(strstr(old, "<distributionID>"));
    assert_non_null(strstr(new, "<DistributionID>"));
    char err[512];
    assert_true(json_equal(a, b));
    assert_string_equal(json_string_value(json_object_get(a, "distributionStatus")), "Actual");
    assert_int_equal(json_array_size(json_object_get(json_array_get(
                         json_object_get(a, "explicitAddress"), 0), "value")), 2);
    /* a distribution object holding an old <targetArea> */
    json_array_set_new(json_object_get(a, "targetArea"), 0, json_string(
        "<targetArea xmlns=\"" KNOOP_EDXL_NS "\"><x xmlns=\"urn:x\">1</x></targetArea>"));
    knoop_buf_t xml = { 0 };
    if (knoop_edxl_wrap(a, &xml, err, sizeof err))
        fail_msg("wrap: %s", err);
    assert_true(knoop_buf_append(&xml, "", 1) == 0);
    const char *out = (const char *) xml.data;
    static const char *const want[] = { "<DistributionID>", "<SenderID>", "<DateTimeSent>",
        "<DateTimeExpires>", "<DistributionStatus>", "<StatusKindDefault>",
        "<ct:ValueListURI>" KNOOP_EDXL_STATUS_LIST "</ct:ValueListURI>",
        "<ct:Value>Actual</ct:Value>", "<DistributionKindDefault>",
        "<ct:ValueListURI>" KNOOP_EDXL_KIND_LIST "</ct:ValueListURI>", "<Descriptor>",
        "<Language>", "<ExplicitAddress>", "<ct:ValueListURI>knooppunt</ct:ValueListURI>",
        "<TargetArea", "<Content>", "<ContentObject>", "<ContentDescription>",
        "<ContentXML>", "<EmbeddedXMLContent>", "xmlns:ct=\"" KNOOP_EDXL_CT_NS "\"" };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i]))
            fail_msg("wrap does not write %s", want[i]);
    static const char *const gone[] = { "<distributionID>", "<targetArea", "<descriptor>",
        "<explicitAddressScheme>", "<contentObject>" };
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        if (strstr(out, gone[i]))
            fail_msg("wrap still writes %s", gone[i]);
    json_decref(a);
    json_decref(b);
    free(old);
    free(new);
    knoop_buf_free(&xml);
}

/* What XML allows inside EDXL text and between elements: the EDXL-DE
 * namespace under a prefix on one element and redeclared as default on
 * another, a processing instruction and a comment inside a value, character
 * and predefined entity references. Values read as their text. */
static void test_lenient(void **state)
{
    (void) state;
    char *doc, *twin;
    json_t *a = s_unwrap_src("tests/edxl/lenient/01-prefix-pi-entiteiten.xml", &doc);
    json_t *b = s_unwrap_src("tests/edxl/valid/01-hub-met-cap.xml", &twin);
    assert_non_null(strstr(doc, "<?x y?>"));
    assert_non_null(strstr(doc, "<de:SenderID"));
    assert_string_equal(json_string_value(json_object_get(a, "senderID")),
                        "nccn@crisiscentrum.be");
    assert_string_equal(json_string_value(json_object_get(a, "language")), "nl-BE");
    json_t *item = json_array_get(json_object_get(a, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "description")),
                        "Hoogwater Maas & Ourthe: Li\u00e8ge evacueert");
    /* the rest as its plain twin */
    json_object_del(item, "description");
    json_object_del(json_array_get(json_object_get(b, "content"), 0), "description");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(doc);
    free(twin);
}

static void test_damage(void **state)
{
    (void) state;
    json_t *dist = s_header();
    json_array_append_new(json_object_get(dist, "content"),
        json_pack("{s:s, s:{s:s}}", "type", "knoop.crisis.v1.Duiding", "payload", "title",
                  "De Maas stijgt."));
    knoop_buf_t xml = { 0 };
    char err[512];
    assert_int_equal(knoop_edxl_wrap(dist, &xml, err, sizeof err), KNOOP_OK);
    unsigned seed = tu_seed();
    char *copy = malloc(xml.len);
    assert_non_null(copy);
    for (int k = 0; k < 3000; k++) {
        memcpy(copy, xml.data, xml.len);
        size_t cut = k % 3 == 0 ? (size_t) rand_r(&seed) % xml.len : xml.len;
        copy[rand_r(&seed) % xml.len] = (char) (rand_r(&seed) & 0xff);
        json_t *out = NULL;
        if (knoop_edxl_unwrap(copy, cut, &out, NULL, 0) == KNOOP_OK) {
            knoop_buf_t again = { 0 };
            if (knoop_edxl_wrap(out, &again, err, sizeof err) != KNOOP_OK)
            {
                fprintf(stderr, "--- the damaged document (%zu bytes):\n", cut);
                fwrite(copy, 1, cut, stderr);
                fail_msg("unwrap accepted what wrap refuses: %s", err);
            }
            knoop_buf_free(&again);
        }
        json_decref(out);
    }
    free(copy);
    knoop_buf_free(&xml);
    json_decref(dist);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_round_trip),
        cmocka_unit_test(test_cap_embedded),
        cmocka_unit_test(test_wrap_refusals),
        cmocka_unit_test(test_old_spelling),
        cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
