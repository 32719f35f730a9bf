/* test_json.c — the payload JSON codec (lib/json.h): every crisis type round
 * trips JSON -> pb -> JSON and pb -> JSON -> pb, every refusal names its
 * field, and random or damaged bytes never crash it.
 *
 * The fixtures tell the Limburg flood of July 2021 (Geul and Maas): GRIP 4 in
 * Zuid-Limburg, evacuation of Valkenburg aan de Geul, sandbags for the Maas
 * dikes. */
#include "testutil.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_GRIP     "knoop.crisis.v1.GripLevel"
#define T_SITREP   "knoop.crisis.v1.SitRep"
#define T_DUIDING  "knoop.crisis.v1.Duiding"
#define T_WATER    "knoop.crisis.v1.WaterLevel"
#define T_OUTAGE   "knoop.crisis.v1.VitalOutage"
#define T_ALERT    "knoop.crisis.v1.Alert"
#define T_REQUEST  "knoop.crisis.v1.ResourceRequest"

typedef struct {
    const char *type;
    const char *json;
} fixture_t;

/* Each fixture is what an operator would write; every value is non-default,
 * so the output must give back exactly the input. */
static const fixture_t s_fixtures[] = {
    { T_GRIP,
      "{\"incident_id\": \"vr-zuid-limburg/2021-0714-01\","
      " \"region\": \"vr-zuid-limburg\","
      " \"level\": \"GRIP_4\","
      " \"declared_at\": \"2021-07-14T18:00:00+02:00\","
      " \"declared_by\": \"voorzitter veiligheidsregio Zuid-Limburg\","
      " \"reason\": \"Overstroming van de Geul: Valkenburg aan de Geul, Meerssen en"
      " Gulpen-Wittem getroffen, meerdere gemeenten betrokken\"}" },
    { T_GRIP,   /* GRIP 0 is a real level and must survive as one */
      "{\"incident_id\": \"vr-zuid-limburg/2021-0714-01\","
      " \"region\": \"vr-zuid-limburg\", \"level\": \"GRIP_0\","
      " \"declared_at\": \"2021-07-24T12:00:00+02:00\","
      " \"reason\": \"afgeschaald, nazorg door gemeenten\"}" },
    { T_GRIP,
      "{\"incident_id\": \"nl/2021-hoogwater-limburg\", \"region\": \"kcr2\","
      " \"level\": \"GRIP_RIJK\", \"declared_at\": \"2021-07-15T10:30:00+02:00\","
      " \"declared_by\": \"MCCb\"}" },
    { T_SITREP,
      "{\"incident_id\": \"vr-zuid-limburg/2021-0714-01\","
      " \"location\": {\"name\": \"Valkenburg aan de Geul, centrum\","
      "   \"polygon\": {\"points\": [{\"lat\": 50.8652, \"lon\": 5.8245},"
      "     {\"lat\": 50.8671, \"lon\": 5.8390}, {\"lat\": 50.8598, \"lon\": 5.8411},"
      "     {\"lat\": 50.8583, \"lon\": 5.8262}, {\"lat\": 50.8652, \"lon\": 5.8245}]}},"
      " \"summary\": \"Geul buiten haar oevers; centrum Valkenburg tot 1,5 m onder water."
      " Zorginstelling Hulsberg ontruimd.\","
      " \"casualties\": {\"dead\": 0, \"injured\": 3, \"evacuated\": 2300},"
      " \"measures_taken\": [\"evacuatie centrum Valkenburg\", \"noodopvang MECC Maastricht\","
      "   \"NL-Alert uitgezonden 14-07 23:45\"],"
      " \"needs\": [\"zandzakken\", \"reddingsboten\", \"stroomaggregaten\"],"
      " \"reported_at\": \"2021-07-15T06:00:00+02:00\"}" },
    { T_SITREP,
      "{\"incident_id\": \"vr-limburg-noord/2021-0716-02\","
      " \"location\": {\"name\": \"Roermond, Maasniel\", \"point\": {\"lat\": 51.1942, \"lon\": 6.0033}},"
      " \"summary\": \"Preventieve evacuatie wijken langs de Maas en de Roer.\","
      " \"casualties\": {\"missing\": 0},"
      " \"reported_at\": \"2021-07-16T09:00:00+02:00\"}" },
    { T_DUIDING,
      "{\"title\": \"Hoogwater Maas en zijrivieren in Limburg\","
      " \"assessment\": \"De afvoer van de Maas bij Sint Pieter stijgt tot boven het record van 1993."
      " Langs de Geul en de Roer is de schade groot; de Maasdijken in Limburg-Noord worden zwaar belast.\","
      " \"confidence\": \"CONFIDENCE_HIGH\","
      " \"scenarios\": ["
      "   {\"name\": \"Piek Maas 3200 m3/s bij Sint Pieter\", \"likelihood\": \"LIKELIHOOD_LIKELY\","
      "    \"description\": \"Piek in de nacht van 15 op 16 juli; kades in Venlo en Roermond houden.\"},"
      "   {\"name\": \"Dijkdoorbraak Maasdijk Limburg-Noord\", \"likelihood\": \"LIKELIHOOD_POSSIBLE\","
      "    \"description\": \"Doorbraak bij Steyl of Belfeld; evacuatie tienduizenden inwoners.\"}],"
      " \"advised_actions\": ["
      "   {\"audience\": \"AUDIENCE_PUBLIC\", \"actions\": [\"volg de aanwijzingen van de gemeente\","
      "     \"blijf uit de buurt van rivieren en beken\"]},"
      "   {\"audience\": \"AUDIENCE_MUNICIPALITIES\", \"actions\": [\"bereid evacuatie laaggelegen wijken voor\"]},"
      "   {\"audience\": \"AUDIENCE_VITAL_PROVIDERS\", \"actions\": [\"bescherm schakelstations langs de Maas\","
      "     \"meld verwachte uitval aan de veiligheidsregio\"]}],"
      " \"affected_regions\": [\"vr-zuid-limburg\", \"vr-limburg-noord\", \"vr-brabant-zuidoost\"],"
      " \"valid_until\": \"2021-07-16T18:00:00+02:00\","
      " \"report_number\": 3, \"version\": 2,"
      " \"incident_id\": \"nl/2021-hoogwater-limburg\","
      " \"issued_at\": \"2021-07-15T14:00:00+02:00\"}" },
    { T_WATER,
      "{\"source_organisation\": \"ws-limburg\", \"gauge_id\": \"MAAS-SINTPIETER\","
      " \"gauge_name\": \"Maas, Sint Pieter (Maastricht)\","
      " \"level_cm_nap\": 4628, \"trend\": \"TREND_RISING\", \"threshold_exceeded\": true,"
      " \"threshold\": {\"name\": \"hoogwaterwaarschuwing code rood\", \"level_cm_nap\": 4550},"
      " \"measured_at\": \"2021-07-15T13:10:00+02:00\", \"discharge_m3s\": 3117.5}" },
    { T_WATER,  /* below NAP, and exactly at NAP */
      "{\"source_organisation\": \"ws-rijnland\", \"gauge_id\": \"RL-HAARLEMMERMEER\","
      " \"gauge_name\": \"Ringvaart, Haarlemmermeer\", \"level_cm_nap\": -62,"
      " \"trend\": \"TREND_STEADY\", \"threshold\": {\"name\": \"streefpeil\", \"level_cm_nap\": 0},"
      " \"measured_at\": \"2021-07-15T13:10:00+02:00\"}" },
    { T_OUTAGE,
      "{\"sector\": \"SECTOR_ENERGY\", \"provider\": \"vp-enexis\","
      " \"area\": {\"name\": \"Valkenburg aan de Geul, Geulstraat e.o.\","
      "   \"point\": {\"lat\": 50.8650, \"lon\": 5.8320}},"
      " \"start\": \"2021-07-14T21:40:00+02:00\","
      " \"expected_restore\": \"2021-07-18T12:00:00+02:00\","
      " \"customers_affected\": \"4600\","
      " \"description\": \"Middenspanningsstations onder water; preventief afgeschakeld.\","
      " \"outage_id\": \"ENX-2021-071433\"}" },
    { T_OUTAGE,
      "{\"sector\": \"SECTOR_DRINKING_WATER\", \"provider\": \"vp-wml\","
      " \"area\": {\"name\": \"Meerssen en Valkenburg\"},"
      " \"start\": \"2021-07-15T08:00:00+02:00\","
      " \"customers_affected\": \"12000\","
      " \"description\": \"Kookadvies: mogelijk verontreiniging na overstroming.\"}" },
    { T_ALERT,
      "{\"identifier\": \"NL-ALERT-VRZL-2021-0714-0007\","
      " \"sender\": \"nl-alert@vr-zuid-limburg\","
      " \"sent\": \"2021-07-14T23:45:00+02:00\","
      " \"status\": \"CAP_STATUS_ACTUAL\", \"msg_type\": \"CAP_MSG_TYPE_ALERT\","
      " \"scope\": \"CAP_SCOPE_PUBLIC\", \"code\": [\"NL-Alert\"],"
      " \"info\": [{\"language\": \"nl-NL\","
      "   \"category\": [\"CAP_CATEGORY_MET\", \"CAP_CATEGORY_SAFETY\"],"
      "   \"event\": \"Overstroming\", \"response_type\": [\"CAP_RESPONSE_TYPE_EVACUATE\"],"
      "   \"urgency\": \"CAP_URGENCY_IMMEDIATE\", \"severity\": \"CAP_SEVERITY_EXTREME\","
      "   \"certainty\": \"CAP_CERTAINTY_OBSERVED\","
      "   \"event_code\": [{\"value_name\": \"NL-Alert\", \"value\": \"overstroming\"}],"
      "   \"expires\": \"2021-07-15T12:00:00+02:00\","
      "   \"sender_name\": \"Veiligheidsregio Zuid-Limburg\","
      "   \"headline\": \"NL-Alert 14-07 23:45: Overstroming centrum Valkenburg\","
      "   \"description\": \"Het water van de Geul stijgt snel. Het centrum van Valkenburg loopt onder.\","
      "   \"instruction\": \"Verlaat het gebied via de Wilhelminalaan. Help uw buren."
      " Volg de aanwijzingen van hulpdiensten.\","
      "   \"web\": \"https://www.vrzl.nl\","
      "   \"parameter\": [{\"value_name\": \"layer:EU-Alert\", \"value\": \"1.0\"}],"
      "   \"resource\": [{\"resource_desc\": \"kaart evacuatiegebied\", \"mime_type\": \"image/png\","
      "     \"size\": \"8\", \"deref_uri\": \"iVBORw0KGgo=\"}],"
      "   \"area\": [{\"area_desc\": \"Valkenburg aan de Geul, centrum\","
      "     \"polygon\": [\"50.8652,5.8245 50.8671,5.8390 50.8598,5.8411 50.8583,5.8262 50.8652,5.8245\"],"
      "     \"circle\": [\"50.8650,5.8320 1.5\"],"
      "     \"geocode\": [{\"value_name\": \"CBS\", \"value\": \"GM0994\"}],"
      "     \"altitude\": 250.0, \"ceiling\": 600.5}]}]}" },
    { T_REQUEST,
      "{\"request_id\": \"BIJSTAND-VRZL-2021-0715-004\", \"what\": \"zandzakken\","
      " \"quantity\": 20000, \"unit\": \"stuks\","
      " \"where\": {\"name\": \"Meerssen, Maasdijk Bunde\", \"point\": {\"lat\": 50.8989, \"lon\": 5.7331}},"
      " \"needed_by\": \"2021-07-15T16:00:00+02:00\","
      " \"requesting_region\": \"vr-zuid-limburg\","
      " \"incident_id\": \"vr-zuid-limburg/2021-0714-01\","
      " \"kind\": \"RM_KIND_REQUEST\", \"message_id\": \"VRZL-RM-0004\","
      " \"sender\": \"vr-zuid-limburg\", \"resource_type\": \"ZANDZAK\","
      " \"schedule\": [{\"kind\": \"SCHEDULE_KIND_REQUESTED_ARRIVAL\","
      "   \"at\": \"2021-07-15T16:00:00+02:00\", \"where\": {\"name\": \"Bunde\"}}],"
      " \"report_to\": {\"name\": \"uitgangsstelling MECC\", \"point\": {\"lat\": 50.8413, \"lon\": 5.7126}}}" },
    { T_REQUEST,  /* a commit answering an offer */
      "{\"request_id\": \"BIJSTAND-VRZL-2021-0715-004\", \"kind\": \"RM_KIND_COMMIT\","
      " \"message_id\": \"VRBZO-RM-0012\", \"answers\": \"VRZL-RM-0004\","
      " \"sender\": \"vr-brabant-zuidoost\", \"quantity\": 10000, \"unit\": \"stuks\","
      " \"note\": \"vertrek 13:00 vanaf Eindhoven\"}" },
    { T_REQUEST,  /* a place name alone is a where */
      "{\"request_id\": \"BIJSTAND-VRLN-2021-0716-001\", \"what\": \"peloton redding (boten)\","
      " \"quantity\": 2, \"where\": {\"name\": \"Venlo, Blerick\"},"
      " \"requesting_region\": \"vr-limburg-noord\"}" },
};
#define NFIXTURES (sizeof s_fixtures / sizeof s_fixtures[0])

static json_t *s_load(const char *text)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL: the codec itself must refuse NUL inside strings. */
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("fixture does not parse: %s (line %d col %d)", jerr.text, jerr.line, jerr.column);
    return j;
}

/* Encode JSON text; returns the rc, bytes in *buf, message in err. */
static int s_encode(const char *type, const char *text, knoop_buf_t *buf, char *err, size_t n)
{
    json_t *j = s_load(text);
    int rc = knoop_payload_from_json(type, j, buf, err, n);
    json_decref(j);
    return rc;
}

static void s_print_diff(const json_t *want, const json_t *got)
{
    char *a = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
    char *b = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
    fprintf(stderr, "want:\n%s\ngot:\n%s\n", a ? a : "?", b ? b : "?");
    free(a);
    free(b);
}

/* ---- registry ---- */

static void test_registry(void **state)
{
    const char *const *types = knoop_payload_types();
    size_t n = 0;
    for (; types[n]; n++)
        assert_true(knoop_payload_type_known(types[n]));
    assert_int_equal(n, 7);
    const char *want[] = { T_GRIP, T_SITREP, T_DUIDING, T_WATER, T_OUTAGE, T_ALERT, T_REQUEST };
    for (size_t i = 0; i < 7; i++)
        assert_true(knoop_payload_type_known(want[i]));
    assert_false(knoop_payload_type_known("knoop.crisis.v1.Nope"));
    assert_false(knoop_payload_type_known("GripLevel"));
    assert_false(knoop_payload_type_known("knoop.v1.Body"));
    assert_false(knoop_payload_type_known(""));
    assert_false(knoop_payload_type_known(NULL));
}

/* ---- round trips ---- */

static void test_roundtrip_every_type(void **state)
{
    bool seen[7] = { false };
    const char *const *types = knoop_payload_types();
    for (size_t i = 0; i < NFIXTURES; i++) {
        const fixture_t *fx = &s_fixtures[i];
        for (size_t t = 0; types[t]; t++)
            if (strcmp(types[t], fx->type) == 0)
                seen[t] = true;
        json_t *in = s_load(fx->json);
        knoop_buf_t pb1 = { 0 }, pb2 = { 0 };
        char err[256];

        /* JSON -> pb -> JSON gives the same object. */
        int rc = knoop_payload_from_json(fx->type, in, &pb1, err, sizeof err);
        if (rc)
            fail_msg("fixture %zu (%s): %s: %s", i, fx->type, knoop_strerror(rc), err);
        assert_true(pb1.len > 0);
        json_t *out = NULL;
        assert_int_equal(knoop_payload_to_json(fx->type, pb1.data, pb1.len, &out), KNOOP_OK);
        if (!json_equal(in, out)) {
            s_print_diff(in, out);
            fail_msg("fixture %zu (%s) does not round trip", i, fx->type);
        }

        /* pb -> JSON -> pb gives the same bytes. */
        assert_int_equal(knoop_payload_from_json(fx->type, out, &pb2, err, sizeof err), KNOOP_OK);
        assert_int_equal(pb2.len, pb1.len);
        assert_memory_equal(pb2.data, pb1.data, pb1.len);

        /* The same bytes read as another type are either refused or
         * something else, never a crash. */
        for (size_t t = 0; types[t]; t++) {
            json_t *other = NULL;
            if (knoop_payload_to_json(types[t], pb1.data, pb1.len, &other) == KNOOP_OK)
                json_decref(other);
        }
        json_decref(in);
        json_decref(out);
        knoop_buf_free(&pb1);
        knoop_buf_free(&pb2);
    }
    for (size_t t = 0; t < 7; t++)
        if (!seen[t])
            fail_msg("no fixture for %s", types[t]);
}

/* Encode `text` as `type` and check the JSON that comes back. */
static void s_expect_output(const char *type, const char *text, const char *want_text)
{
    knoop_buf_t pb = { 0 };
    char err[256];
    int rc = s_encode(type, text, &pb, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", text, err);
    json_t *got = NULL;
    assert_int_equal(knoop_payload_to_json(type, pb.data, pb.len, &got), KNOOP_OK);
    json_t *want = s_load(want_text);
    if (!json_equal(want, got)) {
        s_print_diff(want, got);
        fail_msg("unexpected output for %s", text);
    }
    json_decref(want);
    json_decref(got);
    knoop_buf_free(&pb);
}

static void test_defaults_and_presence(void **state)
{
    /* Plain fields at their default vanish: proto3 cannot carry them. */
    s_expect_output(T_GRIP, "{\"region\": \"\", \"reason\": \"\"}", "{}");
    s_expect_output(T_OUTAGE, "{\"sector\": \"SECTOR_UNSPECIFIED\", \"customers_affected\": 0,"
                              " \"description\": null}", "{}");
    s_expect_output(T_WATER, "{\"threshold_exceeded\": false, \"discharge_m3s\": 0.0}", "{}");
    s_expect_output(T_SITREP, "{\"needs\": [], \"measures_taken\": null}", "{}");
    /* ...but fields with presence keep their zero: GRIP 0, 0 dead, 0 cm NAP. */
    s_expect_output(T_GRIP, "{\"level\": \"GRIP_0\"}", "{\"level\": \"GRIP_0\"}");
    s_expect_output(T_GRIP, "{}", "{}");
    s_expect_output(T_SITREP, "{\"casualties\": {\"dead\": 0}}", "{\"casualties\": {\"dead\": 0}}");
    s_expect_output(T_SITREP, "{\"casualties\": {}}", "{\"casualties\": {}}");
    s_expect_output(T_WATER, "{\"level_cm_nap\": 0}", "{\"level_cm_nap\": 0}");
    /* An empty sub-message is present (a location without details). */
    s_expect_output(T_REQUEST, "{\"where\": {}}", "{\"where\": {}}");
    /* A oneof member that is null does not conflict with the other. */
    s_expect_output(T_SITREP,
                    "{\"location\": {\"point\": {\"lat\": 50.8, \"lon\": 5.8}, \"polygon\": null}}",
                    "{\"location\": {\"point\": {\"lat\": 50.8, \"lon\": 5.8}}}");
    /* An empty polygon is no closed ring: refused (test_payload_rules). */

    /* Enum numbers are accepted when they name a value; names come back. */
    s_expect_output(T_GRIP, "{\"level\": 4}", "{\"level\": \"GRIP_4\"}");
    s_expect_output(T_GRIP, "{\"level\": 6}", "{\"level\": \"GRIP_RIJK\"}");
    s_expect_output(T_ALERT, "{\"info\": [{\"category\": [2, \"CAP_CATEGORY_CBRNE\"]}]}",
                    "{\"info\": [{\"category\": [\"CAP_CATEGORY_MET\", \"CAP_CATEGORY_CBRNE\"]}]}");

    /* An all-default message is zero bytes, and zero bytes are {}. */
    knoop_buf_t pb = { 0 };
    char err[128];
    assert_int_equal(s_encode(T_DUIDING, "{}", &pb, err, sizeof err), KNOOP_OK);
    assert_int_equal(pb.len, 0);
    json_t *j = NULL;
    assert_int_equal(knoop_payload_to_json(T_DUIDING, NULL, 0, &j), KNOOP_OK);
    assert_true(json_is_object(j) && json_object_size(j) == 0);
    json_decref(j);
    knoop_buf_free(&pb);
}

static void test_numbers(void **state)
{
    /* 64-bit: always decimal strings on output (proto3 JSON), numbers and
     * strings accepted on input. */
    s_expect_output(T_OUTAGE, "{\"customers_affected\": 9223372036854775807}",
                    "{\"customers_affected\": \"9223372036854775807\"}");
    s_expect_output(T_OUTAGE, "{\"customers_affected\": \"18446744073709551615\"}",
                    "{\"customers_affected\": \"18446744073709551615\"}");
    s_expect_output(T_OUTAGE, "{\"customers_affected\": 4600}",
                    "{\"customers_affected\": \"4600\"}");
    /* 32-bit integers as strings and as integral numbers; lowerCamelCase
     * names; output keeps the .proto names. */
    s_expect_output(T_WATER, "{\"levelCmNap\": \"-62\", \"gaugeId\": \"X\"}",
                    "{\"level_cm_nap\": -62, \"gauge_id\": \"X\"}");
    s_expect_output(T_REQUEST, "{\"quantity\": 1e3}", "{\"quantity\": 1000}");
    s_expect_output(T_SITREP, "{\"casualties\": {\"dead\": \"0\"}}",
                    "{\"casualties\": {\"dead\": 0}}");
    /* RFC 3339 times: any zone, fractions, lower-case t and z, leap day. */
    s_expect_output(T_GRIP, "{\"declared_at\": \"2021-07-14T18:00:00.123+02:00\","
                            " \"valid_until\": \"2024-02-29t23:59:59z\"}",
                    "{\"declared_at\": \"2021-07-14T18:00:00.123+02:00\","
                    " \"valid_until\": \"2024-02-29t23:59:59z\"}");
    /* WGS84 edges are in range. */
    s_expect_output(T_WATER, "{\"position\": {\"lat\": -90, \"lon\": 180}}",
                    "{\"position\": {\"lat\": -90.0, \"lon\": 180.0}}");
    /* 32-bit edges. */
    s_expect_output(T_SITREP, "{\"casualties\": {\"evacuated\": 4294967295}}",
                    "{\"casualties\": {\"evacuated\": 4294967295}}");
    const char *edges = "{\"level_cm_nap\": -2147483648,"
                        " \"threshold\": {\"level_cm_nap\": 2147483647}}";
    s_expect_output(T_WATER, edges, edges);
    /* Doubles: integers accepted, exact values back, non-finite as strings. */
    s_expect_output(T_WATER, "{\"discharge_m3s\": 3117}", "{\"discharge_m3s\": 3117.0}");
    s_expect_output(T_WATER, "{\"discharge_m3s\": 0.1}", "{\"discharge_m3s\": 0.1}");
    s_expect_output(T_WATER, "{\"discharge_m3s\": 1.7976931348623157e308}",
                    "{\"discharge_m3s\": 1.7976931348623157e308}");
    s_expect_output(T_WATER, "{\"discharge_m3s\": \"NaN\"}", "{\"discharge_m3s\": \"NaN\"}");
    s_expect_output(T_WATER, "{\"discharge_m3s\": \"-Infinity\"}",
                    "{\"discharge_m3s\": \"-Infinity\"}");
    /* Bytes: base64 both ways, empty is default. */
    s_expect_output(T_ALERT, "{\"info\": [{\"resource\": [{\"deref_uri\": \"\"}]}]}",
                    "{\"info\": [{\"resource\": [{}]}]}");
    s_expect_output(T_ALERT, "{\"info\": [{\"resource\": [{\"deref_uri\": \"AA==\"}]}]}",
                    "{\"info\": [{\"resource\": [{\"deref_uri\": \"AA==\"}]}]}");
    /* Strings: UTF-8 as is. */
    s_expect_output(T_SITREP, "{\"summary\": \"geëvacueerden \\u20ac \\ud83c\\udf0a\"}",
                    "{\"summary\": \"geëvacueerden € 🌊\"}");
}

/* ---- refusals ---- */

typedef struct {
    const char *type;
    const char *json;
    int         rc;
    const char *err;    /* exact message */
} bad_t;

static const bad_t s_bad[] = {
    { "knoop.crisis.v1.Nope", "{}", KNOOP_ENOTFOUND,
      "unknown payload type 'knoop.crisis.v1.Nope'" },
    { T_GRIP, "[]", KNOOP_EMALFORMED, "expected object, got array" },
    { T_GRIP, "{\"lvl\": \"GRIP_4\"}", KNOOP_EMALFORMED, "lvl: unknown field" },
    { T_GRIP, "{\"Level\": \"GRIP_4\"}", KNOOP_EMALFORMED, "Level: unknown field" },
    { T_GRIP, "{\"level\": \"GRIP_9\"}", KNOOP_EMALFORMED, "level: unknown enum value 'GRIP_9'" },
    { T_GRIP, "{\"level\": \"grip_4\"}", KNOOP_EMALFORMED, "level: unknown enum value 'grip_4'" },
    { T_GRIP, "{\"level\": 7}", KNOOP_EMALFORMED, "level: unknown enum value 7" },
    { T_GRIP, "{\"level\": -1}", KNOOP_EMALFORMED, "level: unknown enum value -1" },
    { T_GRIP, "{\"level\": 4294967300}", KNOOP_EMALFORMED, "level: unknown enum value 4294967300" },
    { T_GRIP, "{\"level\": 4.0}", KNOOP_EMALFORMED, "level: expected enum name, got number" },
    { T_GRIP, "{\"region\": 12}", KNOOP_EMALFORMED, "region: expected string, got integer" },
    { T_GRIP, "{\"reason\": \"a\\u0000b\"}", KNOOP_EMALFORMED,
      "reason: string contains a NUL character" },
    { T_SITREP, "{\"casualties\": {\"dead\": \"veel\"}}", KNOOP_EMALFORMED,
      "casualties.dead: expected integer, got string" },
    { T_SITREP, "{\"casualties\": {\"dead\": 1.5}}", KNOOP_EMALFORMED,
      "casualties.dead: expected integer, got number" },
    { T_SITREP, "{\"casualties\": {\"dead\": -1}}", KNOOP_EMALFORMED,
      "casualties.dead: value -1 out of range for uint32" },
    { T_SITREP, "{\"casualties\": {\"injured\": 4294967296}}", KNOOP_EMALFORMED,
      "casualties.injured: value 4294967296 out of range for uint32" },
    { T_SITREP, "{\"casualties\": {\"fatalities\": 2}}", KNOOP_EMALFORMED,
      "casualties.fatalities: unknown field" },
    { T_SITREP, "{\"casualties\": [1, 2]}", KNOOP_EMALFORMED,
      "casualties: expected object, got array" },
    { T_SITREP, "{\"location\": \"Valkenburg\"}", KNOOP_EMALFORMED,
      "location: expected object, got string" },
    { T_SITREP, "{\"measures_taken\": \"evacuatie\"}", KNOOP_EMALFORMED,
      "measures_taken: expected array, got string" },
    { T_SITREP, "{\"measures_taken\": [\"evacuatie\", 3]}", KNOOP_EMALFORMED,
      "measures_taken[1]: expected string, got integer" },
    { T_SITREP, "{\"needs\": [\"zandzakken\", null]}", KNOOP_EMALFORMED,
      "needs[1]: null in array" },
    { T_SITREP, "{\"location\": {\"point\": {\"lat\": 50.86, \"lon\": 5.83},"
                " \"polygon\": {\"points\": []}}}", KNOOP_EMALFORMED,
      "location.polygon: conflicts with 'point' (only one may be set)" },
    { T_SITREP, "{\"location\": {\"polygon\": {\"points\": [{\"lat\": 50.86, \"lon\": 5.83},"
                " {\"lat\": 50.87, \"lon\": {\"deg\": 5}}]}}}", KNOOP_EMALFORMED,
      "location.polygon.points[1].lon: expected number, got object" },
    { T_DUIDING, "{\"confidence\": \"HIGH\"}", KNOOP_EMALFORMED,
      "confidence: unknown enum value 'HIGH'" },
    { T_DUIDING, "{\"advised_actions\": [{\"audience\": \"AUDIENCE_PUBLIC\"},"
                 " {\"audience\": \"AUDIENCE_MEDIA\"}]}", KNOOP_EMALFORMED,
      "advised_actions[1].audience: unknown enum value 'AUDIENCE_MEDIA'" },
    { T_DUIDING, "{\"report_number\": true}", KNOOP_EMALFORMED,
      "report_number: expected integer, got boolean" },
    { T_WATER, "{\"threshold_exceeded\": \"ja\"}", KNOOP_EMALFORMED,
      "threshold_exceeded: expected boolean, got string" },
    { T_WATER, "{\"threshold_exceeded\": 1}", KNOOP_EMALFORMED,
      "threshold_exceeded: expected boolean, got integer" },
    { T_WATER, "{\"level_cm_nap\": 2147483648}", KNOOP_EMALFORMED,
      "level_cm_nap: value 2147483648 out of range for int32" },
    { T_WATER, "{\"level_cm_nap\": \"4628 cm\"}", KNOOP_EMALFORMED,
      "level_cm_nap: expected integer, got string" },
    { T_WATER, "{\"level_cm_nap\": 46.5}", KNOOP_EMALFORMED,
      "level_cm_nap: expected integer, got number" },
    { T_WATER, "{\"gauge_id\": \"A\", \"gaugeId\": \"B\"}", KNOOP_EMALFORMED,
      "gaugeId: field given twice (as gauge_id and gaugeId)" },
    { T_WATER, "{\"discharge_m3s\": \"veel\"}", KNOOP_EMALFORMED,
      "discharge_m3s: expected number, got string" },
    { T_WATER, "{\"threshold\": {\"level_cm_nap\": -2147483649}}", KNOOP_EMALFORMED,
      "threshold.level_cm_nap: value -2147483649 out of range for int32" },
    { T_OUTAGE, "{\"customers_affected\": -1}", KNOOP_EMALFORMED,
      "customers_affected: value -1 out of range for uint64" },
    { T_OUTAGE, "{\"customers_affected\": \"18446744073709551616\"}", KNOOP_EMALFORMED,
      "customers_affected: value 18446744073709551616 out of range for uint64" },
    { T_OUTAGE, "{\"customers_affected\": \"-1\"}", KNOOP_EMALFORMED,
      "customers_affected: expected integer, got string" },
    { T_OUTAGE, "{\"customers_affected\": \" 12\"}", KNOOP_EMALFORMED,
      "customers_affected: expected integer, got string" },
    { T_OUTAGE, "{\"sector\": \"SECTOR_ENERGY\", \"area\": {\"name\": \"Geul\", \"radius\": 3}}",
      KNOOP_EMALFORMED, "area.radius: unknown field" },
    { T_ALERT, "{\"info\": [{\"area\": [{\"geocode\": [{\"value_name\": \"CBS\","
               " \"valeu\": \"GM0994\"}]}]}]}", KNOOP_EMALFORMED,
      "info[0].area[0].geocode[0].valeu: unknown field" },
    { T_ALERT, "{\"info\": [{\"event\": \"Overstroming\"}, {\"urgency\": \"Immediate\"}]}",
      KNOOP_EMALFORMED, "info[1].urgency: unknown enum value 'Immediate'" },
    { T_ALERT, "{\"info\": [{\"resource\": [{\"deref_uri\": \"niet base64!\"}]}]}",
      KNOOP_EMALFORMED, "info[0].resource[0].deref_uri: invalid base64" },
    { T_ALERT, "{\"info\": [{\"resource\": [{\"deref_uri\": \"AA\"}]}]}",
      KNOOP_EMALFORMED, "info[0].resource[0].deref_uri: invalid base64" },
    { T_ALERT, "{\"info\": [{\"resource\": [{\"deref_uri\": 12}]}]}",
      KNOOP_EMALFORMED, "info[0].resource[0].deref_uri: expected base64 string, got integer" },
    { T_ALERT, "{\"info\": [null]}", KNOOP_EMALFORMED, "info[0]: null in array" },
    { T_ALERT, "{\"info\": {\"event\": \"Overstroming\"}}", KNOOP_EMALFORMED,
      "info: expected array, got object" },
    { T_ALERT, "{\"info\": [[]]}", KNOOP_EMALFORMED, "info[0]: expected object, got array" },
    { T_REQUEST, "{\"schedule\": [{\"kind\": \"ARRIVAL\"}]}", KNOOP_EMALFORMED,
      "schedule[0].kind: unknown enum value 'ARRIVAL'" },
    /* the content rules (times, WGS84, closed polygons, partner ids) */
    { T_GRIP, "{\"declared_at\": \"gisteren\"}", KNOOP_EMALFORMED,
      "declared_at: 'gisteren' is not an RFC 3339 time with a zone (e.g. 2021-07-14T18:00:00+02:00)" },
    { T_GRIP, "{\"valid_until\": \"2021-07-14T18:00:00\"}", KNOOP_EMALFORMED,
      "valid_until: '2021-07-14T18:00:00' is not an RFC 3339 time with a zone (e.g. 2021-07-14T18:00:00+02:00)" },
    { T_OUTAGE, "{\"restored_at\": \"2023-02-29T10:00:00Z\"}", KNOOP_EMALFORMED,
      "restored_at: '2023-02-29T10:00:00Z' is not an RFC 3339 time with a zone (e.g. 2021-07-14T18:00:00+02:00)" },
    { T_REQUEST, "{\"needed_by\": \"2021-07-14T18:00:00+24:00\"}", KNOOP_EMALFORMED,
      "needed_by: '2021-07-14T18:00:00+24:00' is not an RFC 3339 time with a zone (e.g. 2021-07-14T18:00:00+02:00)" },
    { T_OUTAGE, "{\"start\": \"2021-06-31T10:00:00+02:00\"}", KNOOP_EMALFORMED,
      "start: '2021-06-31T10:00:00+02:00' is not an RFC 3339 time with a zone (e.g. 2021-07-14T18:00:00+02:00)" },
    { T_SITREP, "{\"location\": {\"point\": {\"lat\": 512, \"lon\": 5.8}}}", KNOOP_EMALFORMED,
      "location.point: latitude 512 outside WGS84 -90..90" },
    { T_WATER, "{\"position\": {\"lat\": 50.8, \"lon\": -181}}", KNOOP_EMALFORMED,
      "position: longitude -181 outside WGS84 -180..180" },
    { T_SITREP, "{\"location\": {\"polygon\": {\"points\": [{\"lat\": 50, \"lon\": 5},"
                " {\"lat\": 51, \"lon\": 5}, {\"lat\": 51, \"lon\": 6}, {\"lat\": 50, \"lon\": 6}]}}}",
      KNOOP_EMALFORMED, "location.polygon: polygon not closed: the last point must repeat the first" },
    { T_SITREP, "{\"location\": {\"polygon\": {}}}", KNOOP_EMALFORMED,
      "location.polygon: a polygon needs at least 4 points (a closed ring: the last repeats the first), got 0" },
    { T_GRIP, "{\"region\": \"VR Utrecht\"}", KNOOP_EMALFORMED,
      "region: 'VR Utrecht' is not a partner id (a-z 0-9 -)" },
    { T_REQUEST, "{\"quantity\": 1.5e0}", KNOOP_EMALFORMED,
      "quantity: expected integer, got number" },
};

static void test_refusals_name_the_field(void **state)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const bad_t *b = &s_bad[i];
        knoop_buf_t pb = { 0 };
        /* A failed encode appends nothing. */
        assert_int_equal(knoop_buf_append(&pb, "x", 1), KNOOP_OK);
        char err[256] = "untouched";
        int rc = s_encode(b->type, b->json, &pb, err, sizeof err);
        if (rc != b->rc || strcmp(err, b->err) != 0)
            fail_msg("case %zu %s\n  want %d '%s'\n  got  %d '%s'", i, b->json, b->rc, b->err,
                     rc, err);
        assert_int_equal(pb.len, 1);
        /* Without an error buffer the code is the same. */
        json_t *j = s_load(b->json);
        assert_int_equal(knoop_payload_from_json(b->type, j, &pb, NULL, 0), b->rc);
        /* A short buffer is cut, never overrun. */
        char tiny[8];
        assert_int_equal(knoop_payload_from_json(b->type, j, &pb, tiny, sizeof tiny), b->rc);
        assert_true(strlen(tiny) < sizeof tiny);
        json_decref(j);
        knoop_buf_free(&pb);
    }
    /* No object at all. */
    knoop_buf_t pb = { 0 };
    char err[128];
    assert_int_equal(knoop_payload_from_json(T_GRIP, NULL, &pb, err, sizeof err), KNOOP_EMALFORMED);
    assert_int_equal(knoop_payload_from_json(NULL, NULL, &pb, err, sizeof err), KNOOP_ENOTFOUND);
}

static void test_size_limits(void **state)
{
    char err[256];
    knoop_buf_t pb = { 0 };

    /* One string larger than any payload. */
    size_t big = KNOOP_PAYLOAD_MAX + 1;
    char *s = malloc(big + 1);
    assert_non_null(s);
    memset(s, 'a', big);
    s[big] = '\0';
    json_t *j = json_pack("{s:s}", "summary", s);
    assert_non_null(j);
    assert_int_equal(knoop_payload_from_json(T_SITREP, j, &pb, err, sizeof err), KNOOP_ETOOBIG);
    assert_string_equal(err, "summary: string of 1044481 bytes exceeds the payload limit");
    json_decref(j);

    /* Fields that fit one by one but not together. */
    s[big / 2] = '\0';
    j = json_pack("{s:[s,s,s]}", "needs", s, s, s);
    assert_non_null(j);
    assert_int_equal(knoop_payload_from_json(T_SITREP, j, &pb, err, sizeof err), KNOOP_ETOOBIG);
    assert_non_null(strstr(err, "exceeds the limit"));
    assert_int_equal(pb.len, 0);
    json_decref(j);

    /* Just below the limit is fine and decodes again. */
    size_t fit = KNOOP_PAYLOAD_MAX - 16;
    s[fit] = '\0';
    memset(s, 'b', fit);
    j = json_pack("{s:s}", "summary", s);
    assert_int_equal(knoop_payload_from_json(T_SITREP, j, &pb, err, sizeof err), KNOOP_OK);
    assert_true(pb.len <= KNOOP_PAYLOAD_MAX);
    json_t *back = NULL;
    assert_int_equal(knoop_payload_to_json(T_SITREP, pb.data, pb.len, &back), KNOOP_OK);
    assert_true(json_equal(j, back));
    json_decref(back);
    json_decref(j);
    free(s);

    /* Payload bytes above the limit are refused before parsing. */
    uint8_t *huge = calloc(1, KNOOP_PAYLOAD_MAX + 1);
    assert_non_null(huge);
    assert_int_equal(knoop_payload_to_json(T_SITREP, huge, KNOOP_PAYLOAD_MAX + 1, &back),
                     KNOOP_ETOOBIG);
    assert_null(back);
    free(huge);
    knoop_buf_free(&pb);
}

/* ---- damaged protobuf bytes ---- */

static void test_malformed_bytes(void **state)
{
    static const struct {
        const char *type;
        uint8_t     bytes[8];
        size_t      len;
    } bad[] = {
        { T_GRIP,   { 0x0a }, 1 },                         /* tag, no length */
        { T_GRIP,   { 0x0a, 0x05, 'v', 'r' }, 4 },         /* string cut short */
        { T_GRIP,   { 0x12, 0x02, 0xc3, 0x28 }, 4 },       /* region not UTF-8 */
        { T_GRIP,   { 0x12, 0x03, 0xed, 0xa0, 0x80 }, 5 }, /* UTF-16 surrogate */
        { T_GRIP,   { 0x18, 0xff, 0xff }, 3 },             /* varint cut short */
        { T_GRIP,   { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f }, 6 }, /* length 4 GiB */
        { T_SITREP, { 0x22, 0x02, 0x08 }, 3 },             /* sub-message cut */
        { T_SITREP, { 0x22, 0x01, 0x0a }, 3 },             /* casualties.dead wrong wire type */
        { T_WATER,  { 0x49, 0x00, 0x00 }, 3 },             /* double cut short */
        { T_OUTAGE, { 0x07 }, 1 },                         /* field 0, wire type 7 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = (json_t *) 1;
        int rc = knoop_payload_to_json(bad[i].type, bad[i].bytes, bad[i].len, &j);
        if (rc != KNOOP_EMALFORMED)
            fail_msg("case %zu: want malformed, got %s", i, knoop_strerror(rc));
        assert_null(j);
    }
    json_t *j = NULL;
    assert_int_equal(knoop_payload_to_json("knoop.crisis.v1.Nope", (const uint8_t *) "", 0, &j),
                     KNOOP_ENOTFOUND);

    /* Unknown fields (a newer schema) are skipped, known ones still read;
     * an enum number without a name is shown as that number. */
    static const uint8_t newer[] = { 0x12, 0x02, 'v', 'r', 0xf8, 0x01, 0x05, 0x18, 0x09 };
    assert_int_equal(knoop_payload_to_json(T_GRIP, newer, sizeof newer, &j), KNOOP_OK);
    json_t *want = s_load("{\"region\": \"vr\", \"level\": 9}");
    assert_true(json_equal(want, j));
    json_decref(want);
    json_decref(j);
}

/* ---- random and damaged input ---- */

static uint64_t s_rng;
static uint64_t s_rand(void)
{
    /* xorshift64*: reproducible from the seed, independent of libc. */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}

/* Decode arbitrary bytes as `type`: must be refused or give an object that
 * encodes again and decodes to the same object. */
static void s_check_bytes(const char *type, const uint8_t *data, size_t len, size_t *ok)
{
    json_t *j = NULL;
    int rc = knoop_payload_to_json(type, data, len, &j);
    if (rc != KNOOP_OK) {
        assert_true(rc == KNOOP_EMALFORMED || rc == KNOOP_ETOOBIG);
        assert_null(j);
        return;
    }
    (*ok)++;
    assert_true(json_is_object(j));
    knoop_buf_t pb = { 0 };
    char err[256];
    rc = knoop_payload_from_json(type, j, &pb, err, sizeof err);
    if (rc == KNOOP_OK) {
        json_t *j2 = NULL;
        assert_int_equal(knoop_payload_to_json(type, pb.data, pb.len, &j2), KNOOP_OK);
        if (!json_equal(j, j2)) {
            s_print_diff(j, j2);
            fail_msg("%s: decode of re-encoded random bytes differs", type);
        }
        json_decref(j2);
    }
    else {
        /* Only an enum number from a newer schema, or content the rules
         * refuse (damaged bytes make bad times and coordinates), may be
         * refused. */
        if (rc != KNOOP_EMALFORMED ||
            (!strstr(err, "unknown enum value") && !strstr(err, "RFC 3339") &&
             !strstr(err, "WGS84") && !strstr(err, "polygon") && !strstr(err, "partner id")))
            fail_msg("%s: re-encode refused: %s", type, err);
    }
    knoop_buf_free(&pb);
    json_decref(j);
}

/* The registry file beside the policy: deploy/types says what the built-in
 * table says; bad lines are refused with file and line. */
static void test_typemap(void **state)
{
    char path[4096];
    const char *src = getenv("KNOOP_SRC");
    assert_non_null(src);
    snprintf(path, sizeof path, "%s/deploy/types", src);
    knoop_typemap_t *tm = NULL;
    char err[256];
    assert_int_equal(knoop_typemap_load(path, &tm, err, sizeof err), KNOOP_OK);
    const char *topics[] = { "grip.vr-utrecht", "grip.vr-utrecht.x", "sitrep.a", "duiding.nl",
                             "water.ws-limburg.peil", "vitaal.energie.vp-enexis", "alert.nl",
                             "bijstand.vr-a", "x.vr-utrecht", "gripx.a" };
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        const char *a = knoop_typemap_type_for(tm, topics[i]);
        const char *b = knoop_payload_type_for_topic(topics[i]);
        assert_true((a == NULL) == (b == NULL));
        if (a)
            assert_string_equal(a, b);
    }
    assert_null(knoop_typemap_type_for(tm, "x.vr-utrecht"));
    assert_string_equal(knoop_typemap_type_for(tm, "grip.a"), T_GRIP);
    knoop_typemap_destroy(&tm);
    knoop_typemap_destroy(&tm);

    /* A file of its own replaces the table: first match wins. */
    assert_int_equal(knoop_typemap_parse("# weer\nweer.knmi.> knoop.crisis.v1.Duiding\n"
                                         "weer.> knoop.crisis.v1.Alert # de rest\n", "t",
                                         &tm, err, sizeof err), KNOOP_OK);
    assert_string_equal(knoop_typemap_type_for(tm, "weer.knmi.oranje"), T_DUIDING);
    assert_string_equal(knoop_typemap_type_for(tm, "weer.x"), T_ALERT);
    assert_null(knoop_typemap_type_for(tm, "grip.a"));
    char why[200];
    knoop_buf_t pb = { 0 };
    assert_int_equal(knoop_payload_check(tm, "weer.x", T_GRIP, NULL, 0, NULL, 0, why,
                                         sizeof why), KNOOP_EPERM);
    assert_string_equal(why, "topic weer.x carries knoop.crisis.v1.Alert, not "
                             "knoop.crisis.v1.GripLevel");
    assert_int_equal(knoop_payload_check(tm, "grip.a", T_SITREP, NULL, 0, NULL, 0, why,
                                         sizeof why), KNOOP_OK);
    knoop_buf_free(&pb);
    knoop_typemap_destroy(&tm);

    static const struct { const char *text, *err; } bad[] = {
        { "grip.>\n", "types t:1: expected PATTERN TYPE" },
        { "\ngrip.> knoop.crisis.v1.Grip\n", "types t:2: unknown payload type 'knoop.crisis.v1.Grip'" },
        { "grip..x knoop.crisis.v1.GripLevel\n", "types t:1: 'grip..x' is not a topic pattern" },
        { "grip.> knoop.crisis.v1.GripLevel extra\n", "types t:1: expected PATTERN TYPE" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(knoop_typemap_parse(bad[i].text, "t", &tm, err, sizeof err),
                         KNOOP_EMALFORMED);
        assert_null(tm);
        assert_string_equal(err, bad[i].err);
    }
    assert_int_equal(knoop_typemap_load("/nonexistent/types", &tm, err, sizeof err),
                     KNOOP_ENOTFOUND);
}

static void test_random_bytes(void **state)
{
    s_rng = ((uint64_t) tu_seed() << 1) | 1;
    const char *const *types = knoop_payload_types();
    size_t ntypes = 0;
    while (types[ntypes])
        ntypes++;

    /* Valid payloads to damage: the fixtures encoded. */
    knoop_buf_t good[NFIXTURES];
    for (size_t i = 0; i < NFIXTURES; i++) {
        memset(&good[i], 0, sizeof good[i]);
        assert_int_equal(s_encode(s_fixtures[i].type, s_fixtures[i].json, &good[i], NULL, 0),
                         KNOOP_OK);
    }

    size_t rounds = tu_soak() ? 200000 : 4000, ok = 0;
    uint8_t buf[2048];
    for (size_t r = 0; r < rounds; r++) {
        const char *type = types[s_rand() % ntypes];
        size_t len;
        switch (s_rand() % 4) {
        case 0: {   /* pure noise */
            len = s_rand() % 64;
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t) s_rand();
            break;
        }
        case 1: {   /* a valid payload cut short, read as its own type */
            const knoop_buf_t *g = &good[s_rand() % NFIXTURES];
            len = g->len ? s_rand() % g->len : 0;
            memcpy(buf, g->data, len);
            type = s_fixtures[(size_t) (g - good)].type;
            break;
        }
        default: {  /* a valid payload with a few bytes flipped */
            size_t fi = s_rand() % NFIXTURES;
            const knoop_buf_t *g = &good[fi];
            len = g->len < sizeof buf ? g->len : sizeof buf;
            memcpy(buf, g->data, len);
            int flips = 1 + (int) (s_rand() % 4);
            for (int k = 0; k < flips && len; k++)
                buf[s_rand() % len] ^= (uint8_t) (1u << (s_rand() % 8));
            if (s_rand() % 2)
                type = s_fixtures[fi].type;
            break;
        }
        }
        s_check_bytes(type, buf, len, &ok);
    }
    /* The damage must not be so heavy that nothing ever decodes. */
    assert_true(ok > rounds / 20);
    for (size_t i = 0; i < NFIXTURES; i++)
        knoop_buf_free(&good[i]);
}

/* Damaged JSON documents: parsed by jansson first, then they must encode or
 * be refused with a message, never crash. */
static void test_random_json(void **state)
{
    s_rng = ((uint64_t) tu_seed() << 1) | 1;
    s_rng ^= 0x9e3779b97f4a7c15ull;
    static const char alphabet[] = "{}[]\":,0-9eE.tfn \\u";
    size_t rounds = tu_soak() ? 100000 : 3000, parsed = 0;
    for (size_t r = 0; r < rounds; r++) {
        const fixture_t *fx = &s_fixtures[s_rand() % NFIXTURES];
        char *text = strdup(fx->json);
        assert_non_null(text);
        size_t len = strlen(text);
        int edits = 1 + (int) (s_rand() % 3);
        for (int k = 0; k < edits; k++)
            text[s_rand() % len] = alphabet[s_rand() % (sizeof alphabet - 1)];
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        if (!j)
            continue;
        parsed++;
        knoop_buf_t pb = { 0 };
        char err[256] = "";
        int rc = knoop_payload_from_json(fx->type, j, &pb, err, sizeof err);
        if (rc == KNOOP_OK) {
            json_t *back = NULL;
            assert_int_equal(knoop_payload_to_json(fx->type, pb.data, pb.len, &back), KNOOP_OK);
            json_decref(back);
        }
        else {
            assert_int_equal(rc, KNOOP_EMALFORMED);
            assert_true(err[0] != '\0');
        }
        knoop_buf_free(&pb);
        json_decref(j);
    }
    assert_true(parsed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_defaults_and_presence),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_malformed_bytes),
        cmocka_unit_test(test_typemap),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
