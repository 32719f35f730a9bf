/* cap.c — CAP 1.2 XML <-> knoop.crisis.v1.Alert through libxml2 (see cap.h).
 *
 * Import walks the document in CAP's schema order, element by element, and
 * builds the Alert in an arena (every allocation is freed at once at the end);
 * export builds a libxml2 tree in the same order, so that element numbers and
 * whitespace gaps recorded at import line up at export. */
#include "cap.h"
#include "xmlcommon.h"
#include "crypto.h"
#include "timefmt.h"
#include "knoop/crisis/v1/alert.pb-c.h"

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef Knoop__Crisis__V1__Alert       alert_t;
typedef Knoop__Crisis__V1__CapInfo     info_t;
typedef Knoop__Crisis__V1__CapArea     area_t;
typedef Knoop__Crisis__V1__CapResource resource_t;
typedef Knoop__Crisis__V1__CapValue    value_t;
typedef Knoop__Crisis__V1__CapXmlForm  form_t;
typedef Knoop__Crisis__V1__CapXmlAttr  xattr_t;

#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define REPEAT_MAX 10000    /* of one element in one parent */

/* ---- value sets: CAP's spelling, in proto enum order (index = enum value) ---- */

static const char *const s_status[] = { "", "Actual", "Exercise", "System", "Test", "Draft", NULL };
static const char *const s_msg_type[] = { "", "Alert", "Update", "Cancel", "Ack", "Error", NULL };
static const char *const s_scope[] = { "", "Public", "Restricted", "Private", NULL };
static const char *const s_category[] = { "", "Geo", "Met", "Safety", "Security", "Rescue",
    "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other", NULL };
static const char *const s_response[] = { "", "Shelter", "Evacuate", "Prepare", "Execute",
    "Avoid", "Monitor", "Assess", "AllClear", "None", NULL };
static const char *const s_urgency[] = { "", "Immediate", "Expected", "Future", "Past",
    "Unknown", NULL };
static const char *const s_severity[] = { "", "Extreme", "Severe", "Moderate", "Minor",
    "Unknown", NULL };
static const char *const s_certainty[] = { "", "Observed", "Likely", "Possible", "Unlikely",
    "Unknown", NULL };

static int s_enum_index(const char *const *names, const char *text)
{
    for (int i = 1; names[i]; i++)
        if (!strcmp(names[i], text))
            return i;
    return 0;
}

static const char *s_enum_name(const char *const *names, int v)
{
    for (int i = 1; names[i]; i++)
        if (i == v)
            return names[i];
    return NULL;
}

/* ---- lexical checks (shared by import and by nothing else) ---- */

/* CAP dateTime: YYYY-MM-DDThh:mm:ss(+|-)hh:mm, no "Z", no fractions. */
static bool s_datetime_ok(const char *s)
{
    return knoop_time_parse_cap(s, NULL, NULL) == KNOOP_OK;
}

bool knoop_cap_datetime_ok(const char *text)
{
    return text && s_datetime_ok(text);
}

/* identifier and sender: no whitespace, commas, '<' or '&'. */
static bool s_id_ok(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (isspace(*p) || *p == ',' || *p == '<' || *p == '&')
            return false;
    return true;
}

/* xs:decimal: [+-]digits[.digits] (at least one digit). */
static bool s_decimal_ok(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (isdigit((unsigned char) *p)) { p++; digits++; }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char) *p)) { p++; digits++; }
    }
    return digits > 0 && *p == '\0';
}

/* A WGS84 coordinate number ending at a delimiter; advances *p. */
static bool s_coord(const char **p, char end, double lo, double hi, double *out)
{
    const char *s = *p;
    size_t n = 0;
    while (s[n] && s[n] != end && !(end == ' ' && isspace((unsigned char) s[n])))
        n++;
    if (n == 0 || n > 40)
        return false;
    char tmp[48];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!s_decimal_ok(tmp))
        return false;
    double v = strtod(tmp, NULL);
    if (!isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    *p = s + n;
    return true;
}

/* "lat,lon lat,lon ...": at least 4 pairs, first == last, in range. */
static bool s_polygon_ok(const char *s, char *why, size_t size)
{
    const char *p = s;
    double lat0 = 0, lon0 = 0, lat = 0, lon = 0;
    size_t n = 0;
    while (isspace((unsigned char) *p))
        p++;
    while (*p) {
        if (!s_coord(&p, ',', -90, 90, &lat) || *p != ',') {
            snprintf(why, size, "point %zu: latitude is not a number in -90..90", n + 1);
            return false;
        }
        p++;
        if (!s_coord(&p, ' ', -180, 180, &lon)) {
            snprintf(why, size, "point %zu: longitude is not a number in -180..180", n + 1);
            return false;
        }
        if (n == 0) {
            lat0 = lat;
            lon0 = lon;
        }
        n++;
        while (isspace((unsigned char) *p))
            p++;
    }
    if (n < 4) {
        snprintf(why, size, "%zu points; a polygon needs at least 4 (\"lat,lon lat,lon ...\", "
                 "the first repeated last)", n);
        return false;
    }
    if (lat != lat0 || lon != lon0) {
        snprintf(why, size, "not closed: the last point must repeat the first");
        return false;
    }
    return true;
}

/* "lat,lon radius" (radius in km, >= 0). */
static bool s_circle_ok(const char *s, char *why, size_t size)
{
    const char *p = s;
    double lat, lon, r;
    while (isspace((unsigned char) *p))
        p++;
    if (!s_coord(&p, ',', -90, 90, &lat) || *p++ != ',') {
        snprintf(why, size, "latitude is not a number in -90..90 (\"lat,lon radius\")");
        return false;
    }
    if (!s_coord(&p, ' ', -180, 180, &lon) || !isspace((unsigned char) *p)) {
        snprintf(why, size, "longitude is not a number in -180..180 (\"lat,lon radius\")");
        return false;
    }
    while (isspace((unsigned char) *p))
        p++;
    if (!s_coord(&p, ' ', 0, 40075, &r)) {
        snprintf(why, size, "radius is not a number of kilometres >= 0 (\"lat,lon radius\")");
        return false;
    }
    while (isspace((unsigned char) *p))
        p++;
    if (*p) {
        snprintf(why, size, "text after the radius (\"lat,lon radius\")");
        return false;
    }
    return true;
}

/* "sender,identifier,sent" triples separated by whitespace. */
static bool s_references_ok(const char *s, char *why, size_t size)
{
    const char *p = s;
    size_t n = 0;
    for (;;) {
        while (isspace((unsigned char) *p))
            p++;
        if (!*p)
            break;
        size_t len = 0;
        while (p[len] && !isspace((unsigned char) p[len]))
            len++;
        char tmp[512];
        n++;
        if (len >= sizeof tmp) {
            snprintf(why, size, "reference %zu is longer than %zu bytes", n, sizeof tmp - 1);
            return false;
        }
        memcpy(tmp, p, len);
        tmp[len] = '\0';
        char *c1 = strchr(tmp, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c1 || !c2 || c1 == tmp || c2 == c1 + 1) {
            snprintf(why, size, "reference %zu '%.60s' is not \"sender,identifier,sent\"", n, tmp);
            return false;
        }
        if (!s_datetime_ok(c2 + 1)) {
            snprintf(why, size, "reference %zu: sent '%.40s' is not a CAP dateTime "
                     "(2021-07-14T23:45:00+02:00)", n, c2 + 1);
            return false;
        }
        p += len;
    }
    if (n == 0) {
        snprintf(why, size, "empty; give \"sender,identifier,sent\" triples");
        return false;
    }
    return true;
}

/* RFC 3066 language tag. */
static bool s_language_ok(const char *s)
{
    size_t run = 0;
    bool first = true;
    for (const char *p = s;; p++) {
        if (*p == '-' || *p == '\0') {
            if (run == 0 || run > 8)
                return false;
            if (!*p)
                return true;
            run = 0;
            first = false;
            continue;
        }
        if (!(first ? isalpha((unsigned char) *p) : isalnum((unsigned char) *p)))
            return false;
        run++;
    }
}

static bool s_mime_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1])
        return false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (isspace(*p) && p < (const unsigned char *) slash)
            return false;
    return true;
}

/* ---- the arena ---- */

typedef struct {
    void  **ptr;
    size_t  n, cap;
} arena_t;

static void *s_arena_add(arena_t *a, void *p)
{
    if (!p)
        return NULL;
    void **np = knoop_array_grow(a->ptr, a->n, &a->cap, sizeof *np, 64);
    if (!np) {
        free(p);
        return NULL;
    }
    a->ptr = np;
    a->ptr[a->n++] = p;
    return p;
}

static void s_arena_free(arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptr[i]);
    free(a->ptr);
    memset(a, 0, sizeof *a);
}

/* ---- import ---- */

typedef struct {
    arena_t     a;
    char       *err;
    size_t      err_size;
    bool        failed;
    int         rc;
    uint32_t    elem;           /* number of the next CAP element */
    knoop_buf_t gaps;           /* each gap NUL-ended, in document order */
    size_t      ngaps;
    bool        gaps_used;      /* some gap holds whitespace, a comment or a PI */
    form_t     *form;
    const xmlChar *prefix;      /* of the CAP namespace at <alert>, NULL = default */
    xmlDocPtr   doc;
} rd_t;

static void s_fail(rd_t *r, int rc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_fail(rd_t *r, int rc, const char *path, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    r->rc = rc;
    if (!r->err || !r->err_size)
        return;
    int n = snprintf(r->err, r->err_size, "%s: ", path);
    if (n < 0 || (size_t) n >= r->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->err_size - (size_t) n, fmt, ap);
    va_end(ap);
}

static void *s_new(rd_t *r, size_t size)
{
    void *p = s_arena_add(&r->a, calloc(1, size));
    if (!p)
        s_fail(r, KNOOP_ENOMEM, "alert", "out of memory");
    return p;
}

/* A new message of type d in the arena, with protobuf-c's defaults; NULL
 * when out of memory (r has failed). */
static void *s_msg(rd_t *r, const ProtobufCMessageDescriptor *d)
{
    void *m = s_new(r, d->sizeof_message);
    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

static char *s_dup(rd_t *r, const char *s)
{
    char *p = s_arena_add(&r->a, strdup(s));
    if (!p)
        s_fail(r, KNOOP_ENOMEM, "alert", "out of memory");
    return p;
}

/* Append one element to a repeated field (*arr, *n), growing by doubling. */
static bool s_push(rd_t *r, void *arr_p, size_t *n, size_t elem_size, const void *item,
                   const char *path)
{
    void **arr = arr_p;
    if (*n >= REPEAT_MAX) {
        s_fail(r, KNOOP_ETOOBIG, path, "more than %d of this element", REPEAT_MAX);
        return false;
    }
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        char *grown = s_new(r, (*n ? *n * 2 : 1) * elem_size);
        if (!grown)
            return false;
        if (*n)
            memcpy(grown, *arr, *n * elem_size);
        *arr = grown;
    }
    memcpy((char *) *arr + *n * elem_size, item, elem_size);
    (*n)++;
    return true;
}

/* One (element, name, value) of the XML form appended to the list (*arr, *n):
 * the lexical forms and the attributes are both kept as these. */
static void s_xattr(rd_t *r, xattr_t ***arr, size_t *n, uint32_t elem, const char *name,
                    const char *value, const char *path)
{
    xattr_t *x = s_msg(r, &knoop__crisis__v1__cap_xml_attr__descriptor);
    if (!x)
        return;
    x->element = elem;
    x->name = s_dup(r, name);
    x->value = s_dup(r, value);
    if (x->name && x->value)
        s_push(r, arr, n, sizeof x, &x, path);
}

static void s_lexical(rd_t *r, uint32_t elem, const char *name, const char *text,
                      const char *path)
{
    s_xattr(r, &r->form->lexical, &r->form->n_lexical, elem, name, text, path);
}

/* Keep the namespace declarations and xsi attributes of element number no. */
static void s_keep_attrs(rd_t *r, xmlNodePtr e, uint32_t no, const char *path)
{
    for (xmlNsPtr ns = e->nsDef; ns && !r->failed; ns = ns->next) {
        char name[160];
        snprintf(name, sizeof name, ns->prefix ? "xmlns:%s" : "xmlns",
                 ns->prefix ? (const char *) ns->prefix : "");
        s_xattr(r, &r->form->attr, &r->form->n_attr, no, name,
                ns->href ? (const char *) ns->href : "", path);
    }
    for (xmlAttrPtr at = e->properties; at && !r->failed; at = at->next) {
        if (!at->ns || !at->ns->href || strcmp((const char *) at->ns->href, XSI_NS)) {
            s_fail(r, KNOOP_EMALFORMED, path, "attribute '%s' is not CAP 1.2 (CAP elements "
                   "carry no attributes besides xsi:*)", (const char *) at->name);
            return;
        }
        xmlChar *v = xmlNodeListGetString(r->doc, at->children, 1);
        char name[160];
        snprintf(name, sizeof name, "%s%s%s", at->ns->prefix ? (const char *) at->ns->prefix : "",
                 at->ns->prefix ? ":" : "", (const char *) at->name);
        s_xattr(r, &r->form->attr, &r->form->n_attr, no, name, v ? (const char *) v : "", path);
        xmlFree(v);
    }
}

static bool s_is_cap(const rd_t *r, xmlNodePtr e)
{
    return e->ns && e->ns->href && !strcmp((const char *) e->ns->href, KNOOP_CAP_NS);
}

/* The children of one container element, taken in schema order. */
typedef struct {
    rd_t       *r;
    xmlNodePtr  cur;
    knoop_buf_t gap;
    const char *path;
    int         count;          /* of the element last taken, for paths */
    const char *last;
} kids_t;

static void s_kids_begin(kids_t *k, rd_t *r, xmlNodePtr parent, const char *path)
{
    memset(k, 0, sizeof *k);
    k->r = r;
    k->cur = parent->children;
    k->path = path;
}

/* How an element's parser opens: k over the children of e, and the message
 * of type d they fill (s_msg). NULL when out of memory; k needs no
 * s_kids_end then. */
static void *s_elem_begin(kids_t *k, rd_t *r, xmlNodePtr e, const char *path,
                          const ProtobufCMessageDescriptor *d)
{
    s_kids_begin(k, r, e, path);
    return s_msg(r, d);
}

/* A comment or processing instruction as XML text ("<!--text-->",
 * "<?target data?>", as C14N writes them), appended to out. */
static int s_misc_text(knoop_buf_t *out, xmlNodePtr n)
{
    const char *t = n->content ? (const char *) n->content : "";
    if (n->type == XML_COMMENT_NODE)
        return knoop_buf_append(out, "<!--", 4) || knoop_buf_append(out, t, strlen(t)) ||
               knoop_buf_append(out, "-->", 3) ? KNOOP_ENOMEM : KNOOP_OK;
    const char *target = n->name ? (const char *) n->name : "";
    return knoop_buf_append(out, "<?", 2) || knoop_buf_append(out, target, strlen(target)) ||
           (*t && (knoop_buf_append(out, " ", 1) || knoop_buf_append(out, t, strlen(t)))) ||
           knoop_buf_append(out, "?>", 2) ? KNOOP_ENOMEM : KNOOP_OK;
}

/* The next element child, not taken yet; whitespace before it is collected. */
static xmlNodePtr s_peek(kids_t *k)
{
    rd_t *r = k->r;
    for (; k->cur && !r->failed; k->cur = k->cur->next) {
        switch (k->cur->type) {
        case XML_ELEMENT_NODE:
            return k->cur;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE: {
            const char *t = (const char *) k->cur->content;
            for (const char *p = t; p && *p; p++)
                if (!strchr(" \t\r\n", *p)) {
                    s_fail(r, KNOOP_EMALFORMED, k->path, "text '%.40s' between elements "
                           "(CAP elements hold either elements or text)", p);
                    return NULL;
                }
            if (t && *t && knoop_buf_append(&k->gap, t, strlen(t)))
                s_fail(r, KNOOP_ENOMEM, k->path, "out of memory");
            break;
        }
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            if (s_misc_text(&k->gap, k->cur))
                s_fail(r, KNOOP_ENOMEM, k->path, "out of memory");
            break;
        default:
            s_fail(r, KNOOP_EMALFORMED, k->path, "an entity reference inside <alert> cannot be "
                   "carried; remove it");
            return NULL;
        }
    }
    return NULL;
}

static void s_gap_flush(kids_t *k)
{
    rd_t *r = k->r;
    if (k->gap.len)
        r->gaps_used = true;
    if (knoop_buf_append(&r->gaps, k->gap.data ? k->gap.data : (uint8_t *) "", k->gap.len) ||
        knoop_buf_append(&r->gaps, "", 1))
        s_fail(r, KNOOP_ENOMEM, k->path, "out of memory");
    r->ngaps++;
    k->gap.len = 0;
}

/* Take the next element if it is the CAP element `name`. *no receives its
 * element number; path its path for messages. */
static xmlNodePtr s_take(kids_t *k, const char *name, char *path, size_t path_size,
                         bool repeated)
{
    rd_t *r = k->r;
    xmlNodePtr e = s_peek(k);
    /* by namespace, not prefix: <c:sender xmlns:c="...cap:1.2"> under
     * <alert xmlns="...cap:1.2"> is CAP's sender. Export writes every CAP
     * element with <alert>'s prefix (the declarations stay where they were). */
    if (!e || r->failed || !s_is_cap(r, e) || strcmp((const char *) e->name, name))
        return NULL;
    if (k->last && strcmp(k->last, name))
        k->count = 0;
    k->last = name;
    k->count++;
    if (repeated)
        snprintf(path, path_size, "%s/%s[%d]", k->path, name, k->count);
    else
        snprintf(path, path_size, "%s/%s", k->path, name);
    s_gap_flush(k);
    s_keep_attrs(r, e, r->elem, path);
    r->elem++;
    k->cur = k->cur->next;
    return e;
}

static void s_kids_end(kids_t *k)
{
    rd_t *r = k->r;
    xmlNodePtr e = s_peek(k);
    if (r->failed) {
        knoop_buf_free(&k->gap);
        return;
    }
    if (e) {
        if (s_is_cap(r, e))
            s_fail(r, KNOOP_EMALFORMED, k->path, "unexpected <%s>%s%s%s: not allowed here in "
                   "CAP 1.2 (wrong order, a second one, or an unknown element)",
                   (const char *) e->name, k->last ? " after <" : "", k->last ? k->last : "",
                   k->last ? ">" : "");
        else
            s_fail(r, KNOOP_EMALFORMED, k->path, "element <%s> of %s is not CAP 1.2 here",
                   (const char *) e->name, e->ns && e->ns->href ? (const char *) e->ns->href :
                   "no namespace");
    } else {
        s_gap_flush(k);
    }
    knoop_buf_free(&k->gap);
}

/* The text of a leaf element (arena), NULL on failure. Character and
 * predefined entity references are text (the parser has replaced them). A
 * comment or processing instruction inside a value is not part of the value
 * (XML 1.0: a PI is for an application, not character data) and is left
 * out: an export writes the value without it, so such a document comes back
 * equal under C14N once those are set aside (C14N without comments, the
 * round trip's measure, does not see the comment; it does see the PI). */
static char *s_text(rd_t *r, xmlNodePtr e, const char *path)
{
    knoop_buf_t b = { 0 };
    for (xmlNodePtr c = e->children; c && !r->failed; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            s_fail(r, KNOOP_EMALFORMED, path, "holds element <%s>; CAP has text here",
                   (const char *) c->name);
        } else if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content && knoop_buf_append(&b, c->content, strlen((const char *) c->content)))
                s_fail(r, KNOOP_ENOMEM, path, "out of memory");
        } else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
            s_fail(r, KNOOP_EMALFORMED, path, "holds an XML node of type %d; CAP has text "
                   "here", (int) c->type);
        }
    char *s = NULL;
    if (!r->failed && !knoop_buf_append(&b, "", 1))
        s = s_dup(r, (const char *) b.data);
    else if (!r->failed)
        s_fail(r, KNOOP_ENOMEM, path, "out of memory");
    knoop_buf_free(&b);
    return s;
}

/* A required child is not there: the error says what stands in its place. */
static void s_missing(kids_t *k, const char *name)
{
    xmlNodePtr next = s_peek(k);
    s_fail(k->r, KNOOP_EMALFORMED, k->path, "<%s> is required%s%s%s", name,
           next ? ", found <" : "", next ? (const char *) next->name : "",
           next ? "> in its place" : " and missing");
}

/* Required leaf: present and not empty. */
static char *s_req(kids_t *k, const char *name)
{
    char path[256];
    uint32_t no = k->r->elem;
    (void) no;
    xmlNodePtr e = s_take(k, name, path, sizeof path, false);
    if (k->r->failed)
        return NULL;
    if (!e) {
        s_missing(k, name);
        return NULL;
    }
    char *t = s_text(k->r, e, path);
    if (t && !*t) {
        s_fail(k->r, KNOOP_EMALFORMED, path, "is empty; CAP requires a value");
        return NULL;
    }
    return t;
}

/* Optional leaf: "" when absent; an empty element present is remembered. */
static char *s_opt(kids_t *k, const char *name, char *path, size_t path_size)
{
    uint32_t no = k->r->elem;
    xmlNodePtr e = s_take(k, name, path, path_size, false);
    if (!e || k->r->failed)
        return (char *) protobuf_c_empty_string;
    char *t = s_text(k->r, e, path);
    if (t && !*t)
        s_lexical(k->r, no, name, "", path);
    return t ? t : (char *) protobuf_c_empty_string;
}

/* An optional leaf kept as typed (a number, base64): its text, NULL when
 * absent; *no is its element number, for a lexical form to keep. */
static char *s_opt_text(kids_t *k, const char *name, char *path, size_t path_size,
                        uint32_t *no)
{
    *no = k->r->elem;
    xmlNodePtr e = k->r->failed ? NULL : s_take(k, name, path, path_size, false);
    return e ? s_text(k->r, e, path) : NULL;
}

/* A repeated leaf: the next one or NULL. */
static char *s_rep(kids_t *k, const char *name, char *path, size_t path_size)
{
    xmlNodePtr e = s_take(k, name, path, path_size, true);
    if (!e || k->r->failed)
        return NULL;
    return s_text(k->r, e, path);
}

static void s_check_dt(rd_t *r, const char *v, const char *path)
{
    if (*v && !s_datetime_ok(v))
        s_fail(r, KNOOP_EMALFORMED, path, "'%s' is not a CAP dateTime: write "
               "YYYY-MM-DDThh:mm:ss with a zone offset (2021-07-14T23:45:00+02:00), "
               "no 'Z', no fractions", v);
}

/* The values of a set, "A, B, C", for the error that names them. */
static void s_enum_list(const char *const *names, char *list, size_t size)
{
    list[0] = '\0';
    for (int j = 1; names[j]; j++)
        snprintf(list + strlen(list), size - strlen(list), "%s%s", j > 1 ? ", " : "", names[j]);
}

static int s_req_enum(kids_t *k, const char *name, const char *const *names)
{
    char *v = s_req(k, name);
    if (!v)
        return 0;
    int i = s_enum_index(names, v);
    if (!i) {
        char list[256];
        s_enum_list(names, list, sizeof list);
        s_fail(k->r, KNOOP_EMALFORMED, k->path, "<%s> '%s' is not one of %s", name, v, list);
    }
    return i;
}

/* A repeated leaf of a value set: each one's index appended to (*arr, *n). */
static void s_rep_enum(kids_t *k, const char *name, const char *const *names, void *arr,
                       size_t *n)
{
    char p[256], *v;
    while (!k->r->failed && (v = s_rep(k, name, p, sizeof p))) {
        int c = s_enum_index(names, v);
        if (c) {
            s_push(k->r, arr, n, sizeof c, &c, p);
            continue;
        }
        char list[256];
        s_enum_list(names, list, sizeof list);
        s_fail(k->r, KNOOP_EMALFORMED, p, "'%s' is not a CAP %s (%s)", v, name, list);
    }
}

static value_t **s_values(kids_t *k, const char *name, size_t *n)
{
    value_t **arr = NULL;
    *n = 0;
    char path[256];
    xmlNodePtr e;
    while ((e = s_take(k, name, path, sizeof path, true))) {
        kids_t kk;
        value_t *v = s_elem_begin(&kk, k->r, e, path, &knoop__crisis__v1__cap_value__descriptor);
        if (!v)
            return arr;
        v->value_name = s_req(&kk, "valueName");
        if (v->value_name) {
            /* value may be empty (xs:string) */
            char vpath[256];
            uint32_t no = k->r->elem;
            xmlNodePtr ve = s_take(&kk, "value", vpath, sizeof vpath, false);
            if (ve)
                v->value = s_text(k->r, ve, vpath);
            else if (!k->r->failed)
                s_fail(k->r, KNOOP_EMALFORMED, path, "<value> is required and missing");
            (void) no;
        }
        s_kids_end(&kk);
        if (k->r->failed || !s_push(k->r, &arr, n, sizeof v, &v, path))
            return arr;
    }
    return arr;
}

/* The shortest "%.*f" that reads back as v: how a number is written out, and
 * what an imported text is compared with to keep its own spelling. */
static void s_number_text(double v, char *out, size_t size)
{
    for (int prec = 0; prec <= 20; prec++) {
        snprintf(out, size, "%.*f", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static double s_number(rd_t *r, const char *text, uint32_t no, const char *name,
                       const char *path, bool *ok)
{
    *ok = false;
    if (!s_decimal_ok(text)) {
        s_fail(r, KNOOP_EMALFORMED, path, "'%s' is not a decimal number", text);
        return 0;
    }
    double v = strtod(text, NULL);
    if (!isfinite(v)) {
        s_fail(r, KNOOP_EMALFORMED, path, "'%s' is out of range", text);
        return 0;
    }
    char back[64];
    s_number_text(v, back, sizeof back);
    if (strcmp(back, text))
        s_lexical(r, no, name, text, path);
    *ok = true;
    return v;
}

/* A repeated leaf whose text `ok` checks (a polygon, a circle): each one
 * appended to (*arr, *n). */
static void s_rep_shape(kids_t *k, const char *name,
                        bool (*ok)(const char *s, char *why, size_t size), char ***arr,
                        size_t *n)
{
    char p[256], why[200], *v;
    while (!k->r->failed && (v = s_rep(k, name, p, sizeof p))) {
        if (!ok(v, why, sizeof why))
            s_fail(k->r, KNOOP_EMALFORMED, p, "'%.60s': %s", v, why);
        else
            s_push(k->r, arr, n, sizeof v, &v, p);
    }
}

static area_t *s_area(rd_t *r, xmlNodePtr e, const char *path)
{
    kids_t k;
    area_t *a = s_elem_begin(&k, r, e, path, &knoop__crisis__v1__cap_area__descriptor);
    if (!a)
        return NULL;
    char p[256];
    a->area_desc = s_req(&k, "areaDesc");
    s_rep_shape(&k, "polygon", s_polygon_ok, &a->polygon, &a->n_polygon);
    s_rep_shape(&k, "circle", s_circle_ok, &a->circle, &a->n_circle);
    if (!r->failed)
        a->geocode = s_values(&k, "geocode", &a->n_geocode);
    bool ok;
    uint32_t no;
    char *v;
    if ((v = s_opt_text(&k, "altitude", p, sizeof p, &no))) {
        a->altitude = s_number(r, v, no, "altitude", p, &ok);
        if (ok)
            a->altitude_set_case = KNOOP__CRISIS__V1__CAP_AREA__ALTITUDE_SET_ALTITUDE;
    }
    if ((v = s_opt_text(&k, "ceiling", p, sizeof p, &no))) {
        if (!a->altitude_set_case)
            s_fail(r, KNOOP_EMALFORMED, p, "ceiling without altitude: CAP allows <ceiling> "
                   "only together with <altitude>");
        a->ceiling = s_number(r, v, no, "ceiling", p, &ok);
        if (ok)
            a->ceiling_set_case = KNOOP__CRISIS__V1__CAP_AREA__CEILING_SET_CEILING;
    }
    s_kids_end(&k);
    return a;
}

static resource_t *s_resource(rd_t *r, xmlNodePtr e, const char *path)
{
    kids_t k;
    resource_t *res = s_elem_begin(&k, r, e, path, &knoop__crisis__v1__cap_resource__descriptor);
    if (!res)
        return NULL;
    char p[256];
    res->resource_desc = s_req(&k, "resourceDesc");
    res->mime_type = r->failed ? NULL : s_req(&k, "mimeType");
    if (res->mime_type && !s_mime_ok(res->mime_type))
        s_fail(r, KNOOP_EMALFORMED, path, "<mimeType> '%s' is not a MIME type (type/subtype)",
               res->mime_type);
    uint32_t no;
    char *v;
    if ((v = s_opt_text(&k, "size", p, sizeof p, &no))) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (!isdigit((unsigned char) *v) || *end || errno) {
            s_fail(r, KNOOP_EMALFORMED, p, "'%s' is not a number of bytes", v);
        } else {
            res->size = n;
            res->size_set_case = KNOOP__CRISIS__V1__CAP_RESOURCE__SIZE_SET_SIZE;
            char back[32];
            snprintf(back, sizeof back, "%llu", n);
            if (strcmp(back, v))
                s_lexical(r, no, "size", v, p);
        }
    }
    if (!r->failed)
        res->uri = s_opt(&k, "uri", p, sizeof p);
    if ((v = s_opt_text(&k, "derefUri", p, sizeof p, &no))) {
        size_t len = strlen(v), m = 0;
        char *clean = s_new(r, len + 1);
        uint8_t *bin = s_new(r, len / 4 * 3 + 3);
        if (clean && bin) {
            for (size_t i = 0; i < len; i++)
                if (!isspace((unsigned char) v[i]))
                    clean[m++] = v[i];
            long n = m ? knoop_base64_decode(bin, len / 4 * 3 + 3, clean) : 0;
            if (n < 0) {
                s_fail(r, KNOOP_EMALFORMED, p, "is not base64 (the content itself, as CAP "
                       "specifies)");
            } else {
                res->deref_uri.data = bin;
                res->deref_uri.len = (size_t) n;
                char *back = s_new(r, knoop_base64_size((size_t) n) + 1);
                if (back) {
                    knoop_base64_encode(back, knoop_base64_size((size_t) n) + 1, bin, (size_t) n);
                    if (strcmp(back, v) || !*v)     /* !*v: present but empty */
                        s_lexical(r, no, "derefUri", v, p);
                }
            }
        }
    }
    if (!r->failed)
        res->digest = s_opt(&k, "digest", p, sizeof p);
    if (!r->failed && *res->digest) {
        size_t n = strlen(res->digest);
        bool hex = n == 40;
        for (size_t i = 0; hex && i < n; i++)
            hex = isxdigit((unsigned char) res->digest[i]);
        if (!hex)
            s_fail(r, KNOOP_EMALFORMED, p, "'%s' is not a SHA-1 digest (40 hex digits)",
                   res->digest);
    }
    s_kids_end(&k);
    return res;
}

static info_t *s_info(rd_t *r, xmlNodePtr e, const char *path)
{
    kids_t k;
    info_t *in = s_elem_begin(&k, r, e, path, &knoop__crisis__v1__cap_info__descriptor);
    if (!in)
        return NULL;
    char p[256];
    in->language = s_opt(&k, "language", p, sizeof p);
    if (!r->failed && *in->language && !s_language_ok(in->language))
        s_fail(r, KNOOP_EMALFORMED, p, "'%s' is not a language tag (RFC 3066, e.g. nl-NL)",
               in->language);
    s_rep_enum(&k, "category", s_category, &in->category, &in->n_category);
    if (!r->failed && in->n_category == 0)
        s_missing(&k, "category");
    in->event = r->failed ? NULL : s_req(&k, "event");
    s_rep_enum(&k, "responseType", s_response, &in->response_type, &in->n_response_type);
    if (!r->failed)
        in->urgency = s_req_enum(&k, "urgency", s_urgency);
    if (!r->failed)
        in->severity = s_req_enum(&k, "severity", s_severity);
    if (!r->failed)
        in->certainty = s_req_enum(&k, "certainty", s_certainty);
    if (!r->failed)
        in->audience = s_opt(&k, "audience", p, sizeof p);
    if (!r->failed)
        in->event_code = s_values(&k, "eventCode", &in->n_event_code);
    static const char *const times[] = { "effective", "onset", "expires" };
    char **tf[] = { &in->effective, &in->onset, &in->expires };
    for (int i = 0; i < 3 && !r->failed; i++) {
        *tf[i] = s_opt(&k, times[i], p, sizeof p);
        s_check_dt(r, *tf[i], p);
    }
    static const char *const texts[] = { "senderName", "headline", "description",
                                         "instruction", "web", "contact" };
    char **xf[] = { &in->sender_name, &in->headline, &in->description, &in->instruction,
                    &in->web, &in->contact };
    for (int i = 0; i < 6 && !r->failed; i++)
        *xf[i] = s_opt(&k, texts[i], p, sizeof p);
    if (!r->failed && strpbrk(in->web, " \t\r\n"))
        s_fail(r, KNOOP_EMALFORMED, path, "<web> '%.60s' is not a URI (holds whitespace)",
               in->web);
    if (!r->failed)
        in->parameter = s_values(&k, "parameter", &in->n_parameter);
    xmlNodePtr x;
    while (!r->failed && (x = s_take(&k, "resource", p, sizeof p, true))) {
        resource_t *res = s_resource(r, x, p);
        if (res)
            s_push(r, &in->resource, &in->n_resource, sizeof res, &res, p);
    }
    while (!r->failed && (x = s_take(&k, "area", p, sizeof p, true))) {
        area_t *a = s_area(r, x, p);
        if (a)
            s_push(r, &in->area, &in->n_area, sizeof a, &a, p);
    }
    s_kids_end(&k);
    return in;
}

static alert_t *s_alert(rd_t *r, xmlNodePtr root)
{
    alert_t *al = s_msg(r, &knoop__crisis__v1__alert__descriptor);
    if (!al)
        return NULL;
    const char *path = "alert";
    r->prefix = root->ns->prefix;
    r->form->prefix = s_dup(r, r->prefix ? (const char *) r->prefix : "");
    s_keep_attrs(r, root, 0, path);
    r->elem = 1;
    kids_t k;
    s_kids_begin(&k, r, root, path);
    char p[256];
    al->identifier = s_req(&k, "identifier");
    if (al->identifier && !s_id_ok(al->identifier))
        s_fail(r, KNOOP_EMALFORMED, "alert/identifier", "'%s' holds a space, comma, '<' or "
               "'&', which CAP forbids", al->identifier);
    al->sender = r->failed ? NULL : s_req(&k, "sender");
    if (al->sender && !s_id_ok(al->sender))
        s_fail(r, KNOOP_EMALFORMED, "alert/sender", "'%s' holds a space, comma, '<' or '&', "
               "which CAP forbids", al->sender);
    al->sent = r->failed ? NULL : s_req(&k, "sent");
    if (al->sent)
        s_check_dt(r, al->sent, "alert/sent");
    if (!r->failed)
        al->status = s_req_enum(&k, "status", s_status);
    if (!r->failed)
        al->msg_type = s_req_enum(&k, "msgType", s_msg_type);
    if (!r->failed)
        al->source = s_opt(&k, "source", p, sizeof p);
    if (!r->failed)
        al->scope = s_req_enum(&k, "scope", s_scope);
    if (!r->failed)
        al->restriction = s_opt(&k, "restriction", p, sizeof p);
    if (!r->failed)
        al->addresses = s_opt(&k, "addresses", p, sizeof p);
    if (!r->failed && al->scope == KNOOP__CRISIS__V1__CAP_SCOPE__CAP_SCOPE_RESTRICTED &&
        !*al->restriction)
        s_fail(r, KNOOP_EMALFORMED, path, "<restriction> is required when <scope> is "
               "Restricted");
    if (!r->failed && al->scope == KNOOP__CRISIS__V1__CAP_SCOPE__CAP_SCOPE_PRIVATE &&
        !*al->addresses)
        s_fail(r, KNOOP_EMALFORMED, path, "<addresses> is required when <scope> is Private");
    char *v;
    while (!r->failed && (v = s_rep(&k, "code", p, sizeof p)))
        s_push(r, &al->code, &al->n_code, sizeof v, &v, p);
    if (!r->failed)
        al->note = s_opt(&k, "note", p, sizeof p);
    if (!r->failed)
        al->references = s_opt(&k, "references", p, sizeof p);
    char why[300];
    if (!r->failed && (*al->references || r->form->n_lexical) &&
        !s_references_ok(al->references, why, sizeof why)) {
        /* an empty <references/> present is refused too: it references nothing */
        bool present = *al->references;
        for (size_t i = 0; !present && i < r->form->n_lexical; i++)
            present = !strcmp(r->form->lexical[i]->name, "references");
        if (present)
            s_fail(r, KNOOP_EMALFORMED, "alert/references", "%s", why);
    }
    if (!r->failed)
        al->incidents = s_opt(&k, "incidents", p, sizeof p);
    xmlNodePtr x;
    while (!r->failed && (x = s_take(&k, "info", p, sizeof p, true))) {
        info_t *in = s_info(r, x, p);
        if (in)
            s_push(r, &al->info, &al->n_info, sizeof in, &in, p);
    }
    /* xs:any namespace="##other": elements of another namespace (not CAP,
     * not none), e.g. ds:Signature, kept verbatim. */
    while (!r->failed && (x = s_peek(&k)) && !s_is_cap(r, x) && x->ns && x->ns->href) {
        s_gap_flush(&k);
        r->elem++;
        /* Kept as a document of its own: a copy declares the namespaces it
         * uses that an ancestor (the alert) declared, so that the text
         * means the same wherever it is written again. */
        xmlBufferPtr b = xmlBufferCreate();
        xmlDocPtr own = xmlNewDoc((const xmlChar *) "1.0");
        xmlNodePtr copy = own ? xmlDocCopyNode(x, own, 1) : NULL;
        if (copy)
            xmlDocSetRootElement(own, copy);
        if (!b || !copy || xmlNodeDump(b, own, copy, 0, 0) < 0) {
            xmlBufferFree(b);
            xmlFreeDoc(own);
            s_fail(r, KNOOP_ENOMEM, path, "cannot serialise <%s>", (const char *) x->name);
            break;
        }
        v = s_dup(r, (const char *) xmlBufferContent(b));
        xmlBufferFree(b);
        xmlFreeDoc(own);
        if (v)
            s_push(r, &al->extension, &al->n_extension, sizeof v, &v, path);
        k.cur = k.cur->next;
    }
    s_kids_end(&k);
    return al;
}

static void s_summary_fill(const alert_t *al, knoop_cap_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->identifier = strdup(al->identifier ? al->identifier : "");
    sum->sender = strdup(al->sender ? al->sender : "");
    sum->sent = strdup(al->sent ? al->sent : "");
    sum->references = strdup(al->references ? al->references : "");
    sum->msg_type = (knoop_cap_msg_type_t) al->msg_type;
    switch (al->status) {
    case KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_EXERCISE: sum->status = KNOOP_STATUS_EXERCISE; break;
    case KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_SYSTEM:   sum->status = KNOOP_STATUS_SYSTEM; break;
    case KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_TEST:     sum->status = KNOOP_STATUS_TEST; break;
    case KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_ACTUAL:   sum->status = KNOOP_STATUS_ACTUAL; break;
    default:                                                 sum->status = KNOOP_STATUS_UNSPECIFIED;
    }
    sum->is_public = al->scope == KNOOP__CRISIS__V1__CAP_SCOPE__CAP_SCOPE_PUBLIC;
    sum->is_private = al->scope == KNOOP__CRISIS__V1__CAP_SCOPE__CAP_SCOPE_PRIVATE;
    for (size_t i = 0; i < al->n_info; i++)
        if (al->info[i]->urgency == KNOOP__CRISIS__V1__CAP_URGENCY__CAP_URGENCY_IMMEDIATE)
            sum->immediate = true;
}

int knoop_cap_check_status(const uint8_t *payload, size_t len, knoop_status_t status,
                           char *err, size_t err_size)
{
    alert_t *al = knoop__crisis__v1__alert__unpack(NULL, len, payload);
    if (!al) {
        if (err && err_size)
            snprintf(err, err_size, "payload does not decode as %s", KNOOP_CAP_TYPE);
        return KNOOP_EMALFORMED;
    }
    knoop_cap_summary_t sum;
    s_summary_fill(al, &sum);
    int cap = al->status, rc = KNOOP_OK;
    knoop__crisis__v1__alert__free_unpacked(al, NULL);
    if (cap == KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_DRAFT)
        rc = KNOOP_EPERM;
    else if (cap != KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_UNSPECIFIED && sum.status != status)
        rc = KNOOP_EPERM;
    if (rc && err && err_size)
        snprintf(err, err_size, "status: the alert's CAP status is %s, the envelope's %s; %s",
                 s_enum_name(s_status, cap) ? s_enum_name(s_status, cap) : "?",
                 knoop_status_name(status), cap == KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_DRAFT
                 ? "a draft is not published" : "publish it with the status it states");
    knoop_cap_summary_clear(&sum);
    return rc;
}

void knoop_cap_summary_clear(knoop_cap_summary_t *sum)
{
    if (!sum)
        return;
    free(sum->identifier);
    free(sum->sender);
    free(sum->sent);
    free(sum->references);
    memset(sum, 0, sizeof *sum);
}

int knoop_cap_summary(const uint8_t *payload, size_t len, knoop_cap_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);       /* cleared also on failure */
    alert_t *al = knoop__crisis__v1__alert__unpack(NULL, len, payload);
    if (!al)
        return KNOOP_EMALFORMED;
    s_summary_fill(al, sum);
    knoop__crisis__v1__alert__free_unpacked(al, NULL);
    if (!sum->identifier || !sum->sender || !sum->sent || !sum->references) {
        knoop_cap_summary_clear(sum);
        return KNOOP_ENOMEM;
    }
    return KNOOP_OK;
}

/* ---- state keys ---- */

struct _knoop_cap_keys_t {
    char  **from, **to;         /* "sender,identifier" -> state key */
    size_t  n, cap;
};

knoop_cap_keys_t *knoop_cap_keys_new(void)
{
    return calloc(1, sizeof(knoop_cap_keys_t));
}

void knoop_cap_keys_destroy(knoop_cap_keys_t **self_p)
{
    knoop_cap_keys_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        free(self->from[i]);
        free(self->to[i]);
    }
    free(self->from);
    free(self->to);
    free(self);
    *self_p = NULL;
}

static int s_keys_add(knoop_cap_keys_t *self, const char *sender, const char *identifier,
                      const char *key)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        char **f = realloc(self->from, cap * sizeof *f);
        if (!f)
            return KNOOP_ENOMEM;
        self->from = f;
        char **t = realloc(self->to, cap * sizeof *t);
        if (!t)
            return KNOOP_ENOMEM;
        self->to = t;
        self->cap = cap;
    }
    size_t n = strlen(sender) + strlen(identifier) + 2;
    char *from = malloc(n), *to = strdup(key);
    if (!from || !to) {
        free(from);
        free(to);
        return KNOOP_ENOMEM;
    }
    snprintf(from, n, "%s,%s", sender, identifier);
    self->from[self->n] = from;
    self->to[self->n] = to;
    self->n++;
    return KNOOP_OK;
}

static const char *s_keys_get(const knoop_cap_keys_t *self, const char *sender_identifier)
{
    for (size_t i = self->n; i-- > 0;)     /* the latest entry wins */
        if (!strcmp(self->from[i], sender_identifier))
            return self->to[i];
    return NULL;
}

int knoop_cap_keys_add_message(void *self, const uint8_t *env, size_t len)
{
    assert(self);
    knoop_msg_t m = { 0 };
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;
    knoop_cap_summary_t s;
    int rc = 0;
    if (!strcmp(m.b.type, KNOOP_CAP_TYPE) &&
        knoop_cap_summary(m.b.payload, m.b.payload_len, &s) == KNOOP_OK) {
        rc = s_keys_add(self, s.sender, s.identifier, m.b.key) ? 1 : 0;
        knoop_cap_summary_clear(&s);
    }
    knoop_msg_clear(&m);
    return rc;
}

int knoop_cap_keys_assign(knoop_cap_keys_t *self, const knoop_cap_summary_t *sum, char *key,
                          size_t size)
{
    assert(self && sum && key && size);
    const char *sender = sum->sender ? sum->sender : "";
    const char *identifier = sum->identifier ? sum->identifier : "";
    if (size > KNOOP_KEY_MAX + 1)
        size = KNOOP_KEY_MAX + 1;
    if (!*sender && !*identifier) {
        *key = '\0';           /* no key of its own: the topic's */
        return KNOOP_OK;
    }
    int n = snprintf(key, size, "%s,%s", sender, identifier);
    if ((sum->msg_type == KNOOP_CAP_UPDATE || sum->msg_type == KNOOP_CAP_CANCEL) &&
        sum->references && *sum->references) {
        char *refs = strdup(sum->references), *save = NULL;
        if (!refs)
            return KNOOP_ENOMEM;
        const char *found = NULL;
        char first[KNOOP_KEY_MAX + 1] = "";
        for (char *tok = strtok_r(refs, " \t\r\n", &save); tok && !found;
             tok = strtok_r(NULL, " \t\r\n", &save)) {
            char *last = strrchr(tok, ',');     /* cut ",sent" */
            if (!last)
                continue;
            *last = '\0';
            if (!*first)
                snprintf(first, sizeof first, "%s", tok);
            found = s_keys_get(self, tok);
        }
        if (found || *first)
            n = snprintf(key, size, "%s", found ? found : first);
        free(refs);
    }
    if (n < 0 || (size_t) n >= size)
        return KNOOP_ETOOBIG;
    return s_keys_add(self, sender, identifier, key);
}

/* Parse XML text without network, DTD or entity expansion; a DOCTYPE is
 * refused (nothing it could declare is carried, and it is the door to
 * entity attacks). NULL after an error in err. */
static xmlDocPtr s_parse(const char *xml, size_t len, const char *what, char *err,
                         size_t err_size)
{
    char why[300];
    xmlDocPtr doc = knoop_xml_read(xml, len, why, sizeof why);
    if (!doc) {
        snprintf(err, err_size, "%s: %s", what, why);
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        snprintf(err, err_size, "%s: a DOCTYPE is not accepted (CAP needs none)", what);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    return doc;
}

/* Every namespace declared is an absolute URI (or empty): what C14N 1.0,
 * and so an XML signature, requires of a document. The first offender or
 * NULL. */
static const xmlChar *s_bad_namespace(xmlNodePtr n, const xmlChar **where)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (xmlNsPtr ns = n->nsDef; ns; ns = ns->next) {
            if (!ns->href || !*ns->href)
                continue;
            xmlURIPtr uri = xmlParseURI((const char *) ns->href);
            bool ok = uri && uri->scheme;
            xmlFreeURI(uri);
            if (!ok) {
                *where = n->name;
                return ns->href;
            }
        }
        const xmlChar *bad = s_bad_namespace(n->children, where);
        if (bad)
            return bad;
    }
    return NULL;
}

int knoop_cap_import(const char *xml, size_t len, knoop_buf_t *payload,
                     knoop_cap_summary_t *sum, char *err, size_t err_size)
{
    char dummy[8];
    err = knoop_err_buf(err, &err_size, dummy, sizeof dummy);
    if (sum)
        memset(sum, 0, sizeof *sum);
    if (len > KNOOP_CAP_DOC_MAX) {
        snprintf(err, err_size, "document of %zu bytes; at most %u", len, KNOOP_CAP_DOC_MAX);
        return KNOOP_ETOOBIG;
    }
    xmlDocPtr doc = s_parse(xml, len, "document", err, err_size);
    if (!doc)
        return KNOOP_EMALFORMED;
    rd_t r = { .err = err, .err_size = err_size, .doc = doc };
    xmlNodePtr root = xmlDocGetRootElement(doc);
    r.form = s_msg(&r, &knoop__crisis__v1__cap_xml_form__descriptor);
    /* comments and processing instructions around <alert> */
    knoop_buf_t misc[2] = { { 0 }, { 0 } };
    bool after = false;
    for (xmlNodePtr n = doc->children; n && !r.failed; n = n->next) {
        if (n == root)
            after = true;
        else if ((n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE) &&
                 s_misc_text(&misc[after], n))
            s_fail(&r, KNOOP_ENOMEM, "document", "out of memory");
    }
    for (int i = 0; i < 2 && !r.failed; i++) {
        if (!misc[i].len)
            continue;
        char *t = s_new(&r, misc[i].len + 1);
        if (t) {
            memcpy(t, misc[i].data, misc[i].len);
            *(i ? &r.form->after_root : &r.form->before_root) = t;
        }
    }
    knoop_buf_free(&misc[0]);
    knoop_buf_free(&misc[1]);
    const xmlChar *where = NULL, *bad = r.failed ? NULL : s_bad_namespace(root, &where);
    if (bad)
        s_fail(&r, KNOOP_EMALFORMED, "document", "<%s> declares namespace '%.80s', which is "
               "not an absolute URI (XML canonicalisation, and so a signature, needs one)",
               (const char *) where, (const char *) bad);
    if (!r.failed && (!root || strcmp((const char *) root->name, "alert") || !root->ns ||
                      !root->ns->href || strcmp((const char *) root->ns->href, KNOOP_CAP_NS)))
        s_fail(&r, KNOOP_EMALFORMED, "document", "the root element is not <alert> of CAP 1.2 "
               "(namespace %s)", KNOOP_CAP_NS);
    alert_t *al = NULL;
    if (!r.failed)
        al = s_alert(&r, root);
    int rc = KNOOP_OK;
    if (!r.failed && al->status == KNOOP__CRISIS__V1__CAP_STATUS__CAP_STATUS_DRAFT)
        s_fail(&r, KNOOP_EPERM, "alert/status", "Draft: a draft is not published (set "
               "<status> to Actual, Exercise, System or Test)");
    if (!r.failed) {
        if (r.gaps_used) {
            char **arr = s_new(&r, r.ngaps * sizeof *arr);
            const char *p = (const char *) r.gaps.data;
            for (size_t i = 0; arr && i < r.ngaps; i++) {
                arr[i] = (char *) p;
                p += strlen(p) + 1;
            }
            r.form->gap = arr;
            r.form->n_gap = arr ? r.ngaps : 0;
        }
        /* The plain form (default namespace declared on <alert>, nothing
         * between the elements) is what export writes without a form: an
         * alert made from JSON goes out and comes back the same. */
        const form_t *f = r.form;
        bool plain = !*f->prefix && f->n_attr == 1 && f->attr[0]->element == 0 &&
                     !strcmp(f->attr[0]->name, "xmlns") &&
                     !strcmp(f->attr[0]->value, KNOOP_CAP_NS) && !f->n_gap && !f->n_lexical &&
                     !f->n_prolog && !f->n_epilog && !*f->before_root && !*f->after_root;
        al->xml = plain ? NULL : r.form;
    }
    if (!r.failed) {
        size_t n = knoop__crisis__v1__alert__get_packed_size(al);
        if (n > KNOOP_PAYLOAD_MAX) {
            s_fail(&r, KNOOP_ETOOBIG, "alert", "encodes to %zu bytes; a payload is at most %u "
                   "(a large derefUri belongs behind a uri)", n, KNOOP_PAYLOAD_MAX);
        } else if (knoop_buf_reserve(payload, n)) {
            s_fail(&r, KNOOP_ENOMEM, "alert", "out of memory");
        } else {
            knoop__crisis__v1__alert__pack(al, payload->data + payload->len);
            payload->len += n;
            if (sum) {
                s_summary_fill(al, sum);
                if (!sum->identifier || !sum->sender || !sum->sent || !sum->references) {
                    knoop_cap_summary_clear(sum);
                    s_fail(&r, KNOOP_ENOMEM, "alert", "out of memory");
                }
            }
        }
    }
    if (r.failed)
        rc = r.rc ? r.rc : KNOOP_EMALFORMED;
    knoop_buf_free(&r.gaps);
    s_arena_free(&r.a);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- export ---- */

typedef struct {
    xmlDocPtr     doc;
    xmlNsPtr      ns;
    const form_t *form;
    size_t        gi;           /* next gap of form->gap */
    uint32_t      elem;
    bool          failed;
    char         *err;
    size_t        err_size;
} wr_t;

static void s_wfail(wr_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_wfail(wr_t *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->err_size, fmt, ap);
    va_end(ap);
}

/* Add one node (text or comment) to parent, or fail. */
static void s_add(wr_t *w, xmlNodePtr parent, xmlNodePtr n)
{
    if (!n || !xmlAddChild(parent, n)) {
        xmlFreeNode(n);
        s_wfail(w, "out of memory");
    }
}

/* The next node of XML text kept at import (a gap, before_root,
 * after_root): whitespace as text, <!--...--> as a comment, <?...?> as a
 * processing instruction; advances *p. NULL at the end or on failure
 * (w->failed; what names the field). */
static xmlNodePtr s_misc_next(wr_t *w, const char **p, const char *what)
{
    const char *s = *p;
    if (!s || !*s || w->failed)
        return NULL;
    xmlNodePtr n = NULL;
    if (!strncmp(s, "<!--", 4) || !strncmp(s, "<?", 2)) {
        bool pi = s[1] == '?';
        const char *body = s + (pi ? 2 : 4), *end = strstr(body, pi ? "?>" : "-->");
        if (!end) {
            s_wfail(w, "%s: a %s without its end", what, pi ? "processing instruction" :
                    "comment");
            return NULL;
        }
        char *text = strndup(body, (size_t) (end - body));
        if (!text) {
            s_wfail(w, "out of memory");
            return NULL;
        }
        if (pi) {
            size_t tn = strcspn(text, " \t\r\n");
            char *data = text + tn + strspn(text + tn, " \t\r\n");
            text[tn] = '\0';
            if (tn == 0 || !xmlStrcasecmp((const xmlChar *) text, (const xmlChar *) "xml"))
                s_wfail(w, "%s: a processing instruction without a proper target", what);
            else
                n = xmlNewDocPI(w->doc, (const xmlChar *) text, *data ? (const xmlChar *) data :
                                NULL);
        } else if (strstr(text, "--") || (*text && text[strlen(text) - 1] == '-')) {
            s_wfail(w, "%s: a comment may not hold '--'", what);
        } else {
            n = xmlNewDocComment(w->doc, (const xmlChar *) text);
        }
        free(text);
        if (!n && !w->failed)
            s_wfail(w, "out of memory");
        *p = end + (pi ? 2 : 3);
        return n;
    }
    size_t len = strspn(s, " \t\r\n");
    if (len == 0) {
        s_wfail(w, "%s holds other than whitespace, comments and processing instructions",
                what);
        return NULL;
    }
    n = xmlNewDocTextLen(w->doc, (const xmlChar *) s, (int) len);
    if (!n)
        s_wfail(w, "out of memory");
    *p = s + len;
    return n;
}

/* The next gap kept at import, added to parent. */
static void s_gap(wr_t *w, xmlNodePtr parent)
{
    if (!w->form || w->gi >= w->form->n_gap || w->failed)
        return;
    const char *p = w->form->gap[w->gi++];
    char what[32];
    snprintf(what, sizeof what, "xml.gap %zu", w->gi);
    xmlNodePtr n;
    while ((n = s_misc_next(w, &p, what)))
        s_add(w, parent, n);
}

static const char *s_lex(const wr_t *w, const char *name)
{
    if (!w->form)
        return NULL;
    for (size_t i = 0; i < w->form->n_lexical; i++) {
        const xattr_t *x = w->form->lexical[i];
        if (x->element == w->elem && x->name && !strcmp(x->name, name))
            return x->value ? x->value : "";
    }
    return NULL;
}

/* Namespace declarations and attributes of the element being written. */
static void s_put_attrs(wr_t *w, xmlNodePtr e, bool decls)
{
    if (!w->form)
        return;
    for (size_t i = 0; i < w->form->n_attr && !w->failed; i++) {
        const xattr_t *x = w->form->attr[i];
        if (x->element != w->elem || !x->name)
            continue;
        bool is_decl = !strcmp(x->name, "xmlns") || !strncmp(x->name, "xmlns:", 6);
        if (is_decl != decls)
            continue;
        if (is_decl) {
            const char *prefix = x->name[5] == ':' ? x->name + 6 : NULL;
            if (!xmlNewNs(e, (const xmlChar *) (x->value ? x->value : ""),
                          (const xmlChar *) prefix))
                s_wfail(w, "xml.attr: namespace declaration '%s' twice on one element",
                        x->name);
            continue;
        }
        const char *colon = strchr(x->name, ':');
        xmlNsPtr ns = NULL;
        if (colon) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "%.*s", (int) (colon - x->name), x->name);
            ns = xmlSearchNs(w->doc, e, (const xmlChar *) prefix);
            if (!ns) {
                s_wfail(w, "xml.attr: prefix '%s' of attribute '%s' is not declared", prefix,
                        x->name);
                return;
            }
        }
        if (!xmlSetNsProp(e, ns, (const xmlChar *) (colon ? colon + 1 : x->name),
                          (const xmlChar *) (x->value ? x->value : "")))
            s_wfail(w, "out of memory");
    }
}

static xmlNodePtr s_open(wr_t *w, xmlNodePtr parent, const char *name)
{
    if (w->failed)
        return NULL;
    s_gap(w, parent);
    xmlNodePtr e = xmlNewDocNode(w->doc, w->ns, (const xmlChar *) name, NULL);
    if (!e || !xmlAddChild(parent, e)) {
        xmlFreeNode(e);
        s_wfail(w, "out of memory");
        return NULL;
    }
    s_put_attrs(w, e, true);
    s_put_attrs(w, e, false);
    w->elem++;
    return e;
}

static void s_close(wr_t *w, xmlNodePtr e)
{
    if (e && !w->failed)
        s_gap(w, e);
}

/* A leaf with text; a lexical form kept at import wins. */
static void s_leaf(wr_t *w, xmlNodePtr parent, const char *name, const char *text)
{
    if (w->failed)
        return;
    const char *lex = s_lex(w, name);
    s_gap(w, parent);
    xmlNodePtr e = xmlNewDocNode(w->doc, w->ns, (const xmlChar *) name, NULL);
    if (!e || !xmlAddChild(parent, e)) {
        xmlFreeNode(e);
        s_wfail(w, "out of memory");
        return;
    }
    s_put_attrs(w, e, true);
    s_put_attrs(w, e, false);
    const char *t = lex ? lex : text;
    if (*t) {
        xmlNodePtr tn = xmlNewDocText(w->doc, (const xmlChar *) t);
        if (!tn || !xmlAddChild(e, tn)) {
            xmlFreeNode(tn);
            s_wfail(w, "out of memory");
        }
    }
    w->elem++;
}

/* An optional string: written when not empty, or when import saw it empty. */
static void s_opt_leaf(wr_t *w, xmlNodePtr parent, const char *name, const char *text)
{
    if ((text && *text) || s_lex(w, name))
        s_leaf(w, parent, name, text ? text : "");
}

static void s_values_out(wr_t *w, xmlNodePtr parent, const char *name, value_t **v, size_t n)
{
    for (size_t i = 0; i < n && !w->failed; i++) {
        xmlNodePtr e = s_open(w, parent, name);
        s_leaf(w, e, "valueName", v[i]->value_name ? v[i]->value_name : "");
        s_leaf(w, e, "value", v[i]->value ? v[i]->value : "");
        s_close(w, e);
    }
}

static void s_enum_leaf(wr_t *w, xmlNodePtr parent, const char *name,
                        const char *const *names, int v)
{
    const char *t = s_enum_name(names, v);
    if (!t)
        s_wfail(w, "<%s>: value %d has no CAP name (unset?)", name, v);
    else
        s_leaf(w, parent, name, t);
}

static void s_info_out(wr_t *w, xmlNodePtr parent, const info_t *in)
{
    xmlNodePtr e = s_open(w, parent, "info");
    s_opt_leaf(w, e, "language", in->language);
    if (in->n_category == 0)
        s_wfail(w, "info without category: not CAP 1.2");
    for (size_t i = 0; i < in->n_category; i++)
        s_enum_leaf(w, e, "category", s_category, in->category[i]);
    s_leaf(w, e, "event", in->event ? in->event : "");
    for (size_t i = 0; i < in->n_response_type; i++)
        s_enum_leaf(w, e, "responseType", s_response, in->response_type[i]);
    s_enum_leaf(w, e, "urgency", s_urgency, in->urgency);
    s_enum_leaf(w, e, "severity", s_severity, in->severity);
    s_enum_leaf(w, e, "certainty", s_certainty, in->certainty);
    s_opt_leaf(w, e, "audience", in->audience);
    s_values_out(w, e, "eventCode", in->event_code, in->n_event_code);
    s_opt_leaf(w, e, "effective", in->effective);
    s_opt_leaf(w, e, "onset", in->onset);
    s_opt_leaf(w, e, "expires", in->expires);
    s_opt_leaf(w, e, "senderName", in->sender_name);
    s_opt_leaf(w, e, "headline", in->headline);
    s_opt_leaf(w, e, "description", in->description);
    s_opt_leaf(w, e, "instruction", in->instruction);
    s_opt_leaf(w, e, "web", in->web);
    s_opt_leaf(w, e, "contact", in->contact);
    s_values_out(w, e, "parameter", in->parameter, in->n_parameter);
    for (size_t i = 0; i < in->n_resource && !w->failed; i++) {
        const resource_t *res = in->resource[i];
        xmlNodePtr re = s_open(w, e, "resource");
        s_leaf(w, re, "resourceDesc", res->resource_desc ? res->resource_desc : "");
        s_leaf(w, re, "mimeType", res->mime_type ? res->mime_type : "");
        if (res->size_set_case == KNOOP__CRISIS__V1__CAP_RESOURCE__SIZE_SET_SIZE) {
            char t[32];
            snprintf(t, sizeof t, "%llu", (unsigned long long) res->size);
            s_leaf(w, re, "size", t);
        }
        s_opt_leaf(w, re, "uri", res->uri);
        if (res->deref_uri.len || s_lex(w, "derefUri")) {
            size_t n = knoop_base64_size(res->deref_uri.len) + 1;
            char *b64 = malloc(n);
            if (!b64) {
                s_wfail(w, "out of memory");
                break;
            }
            knoop_base64_encode(b64, n, res->deref_uri.data, res->deref_uri.len);
            s_leaf(w, re, "derefUri", b64);
            free(b64);
        }
        s_opt_leaf(w, re, "digest", res->digest);
        s_close(w, re);
    }
    for (size_t i = 0; i < in->n_area && !w->failed; i++) {
        const area_t *a = in->area[i];
        xmlNodePtr ae = s_open(w, e, "area");
        s_leaf(w, ae, "areaDesc", a->area_desc ? a->area_desc : "");
        for (size_t j = 0; j < a->n_polygon; j++)
            s_leaf(w, ae, "polygon", a->polygon[j]);
        for (size_t j = 0; j < a->n_circle; j++)
            s_leaf(w, ae, "circle", a->circle[j]);
        s_values_out(w, ae, "geocode", a->geocode, a->n_geocode);
        char t[64];
        if (a->altitude_set_case == KNOOP__CRISIS__V1__CAP_AREA__ALTITUDE_SET_ALTITUDE) {
            s_number_text(a->altitude, t, sizeof t);
            s_leaf(w, ae, "altitude", t);
        }
        if (a->ceiling_set_case == KNOOP__CRISIS__V1__CAP_AREA__CEILING_SET_CEILING) {
            s_number_text(a->ceiling, t, sizeof t);
            s_leaf(w, ae, "ceiling", t);
        }
        s_close(w, ae);
    }
    s_close(w, e);
}

static void s_alert_out(wr_t *w, const alert_t *al)
{
    xmlNodePtr root = xmlNewDocNode(w->doc, NULL, (const xmlChar *) "alert", NULL);
    if (!root) {
        s_wfail(w, "out of memory");
        return;
    }
    xmlDocSetRootElement(w->doc, root);
    const char *prefix = w->form && w->form->prefix && *w->form->prefix ? w->form->prefix : NULL;
    s_put_attrs(w, root, true);
    for (xmlNsPtr ns = root->nsDef; ns; ns = ns->next)
        if (ns->href && !strcmp((const char *) ns->href, KNOOP_CAP_NS) &&
            (prefix ? ns->prefix && !strcmp((const char *) ns->prefix, prefix) : !ns->prefix))
            w->ns = ns;
    if (!w->ns)
        w->ns = xmlNewNs(root, (const xmlChar *) KNOOP_CAP_NS, (const xmlChar *) prefix);
    if (!w->ns) {
        s_wfail(w, "xml.prefix '%s' is declared for another namespace", prefix ? prefix : "");
        return;
    }
    xmlSetNs(root, w->ns);
    s_put_attrs(w, root, false);
    w->elem = 1;
    s_leaf(w, root, "identifier", al->identifier ? al->identifier : "");
    s_leaf(w, root, "sender", al->sender ? al->sender : "");
    s_leaf(w, root, "sent", al->sent ? al->sent : "");
    s_enum_leaf(w, root, "status", s_status, al->status);
    s_enum_leaf(w, root, "msgType", s_msg_type, al->msg_type);
    s_opt_leaf(w, root, "source", al->source);
    s_enum_leaf(w, root, "scope", s_scope, al->scope);
    s_opt_leaf(w, root, "restriction", al->restriction);
    s_opt_leaf(w, root, "addresses", al->addresses);
    for (size_t i = 0; i < al->n_code; i++)
        s_leaf(w, root, "code", al->code[i]);
    s_opt_leaf(w, root, "note", al->note);
    s_opt_leaf(w, root, "references", al->references);
    s_opt_leaf(w, root, "incidents", al->incidents);
    for (size_t i = 0; i < al->n_info && !w->failed; i++)
        s_info_out(w, root, al->info[i]);
    for (size_t i = 0; i < al->n_extension && !w->failed; i++) {
        s_gap(w, root);
        xmlNodePtr list = NULL;
        const char *x = al->extension[i];
        if (xmlParseInNodeContext(root, x, (int) strlen(x), XML_PARSE_NONET | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING, &list) !=
                XML_ERR_OK || !list) {
            xmlFreeNodeList(list);
            s_wfail(w, "extension %zu is not an XML element", i + 1);
            return;
        }
        const xmlChar *bad = knoop_xml_undeclared(list);
        if (bad) {
            s_wfail(w, "extension %zu: <%s> uses a namespace prefix it does not declare", i + 1,
                    (const char *) bad);
            xmlFreeNodeList(list);          /* bad is in it */
            return;
        }
        xmlAddChildList(root, list);
        w->elem++;
    }
    s_close(w, root);
}

int knoop_cap_export(const uint8_t *payload, size_t len, knoop_buf_t *xml, char *err,
                     size_t err_size)
{
    char dummy[8];
    err = knoop_err_buf(err, &err_size, dummy, sizeof dummy);
    xmlInitParser();
    alert_t *al = knoop__crisis__v1__alert__unpack(NULL, len, payload);
    if (!al) {
        snprintf(err, err_size, "payload is not a knoop.crisis.v1.Alert");
        return KNOOP_EMALFORMED;
    }
    wr_t w = { .form = al->xml, .err = err, .err_size = err_size };
    int rc = KNOOP_OK;
    w.doc = xmlNewDoc((const xmlChar *) "1.0");
    if (!w.doc)
        s_wfail(&w, "out of memory");
    if (!w.failed)
        s_alert_out(&w, al);
    xmlNodePtr root = w.failed ? NULL : xmlDocGetRootElement(w.doc);
    for (int i = 0; root && al->xml && i < 2 && !w.failed; i++) {
        const char *p = i ? al->xml->after_root : al->xml->before_root;
        const char *what = i ? "xml.after_root" : "xml.before_root";
        xmlNodePtr n;
        while ((n = s_misc_next(&w, &p, what))) {
            if (n->type == XML_TEXT_NODE) {
                xmlFreeNode(n);
                s_wfail(&w, "%s: text outside <alert>", what);
            } else if (!(i ? xmlAddChild((xmlNodePtr) w.doc, n) : xmlAddPrevSibling(root, n))) {
                xmlFreeNode(n);
                s_wfail(&w, "out of memory");
            }
        }
    }
    for (size_t i = 0; root && al->xml && i < al->xml->n_prolog + al->xml->n_epilog; i++) {
        bool pro = i < al->xml->n_prolog;
        const char *t = pro ? al->xml->prolog[i] : al->xml->epilog[i - al->xml->n_prolog];
        if (strstr(t, "--")) {
            s_wfail(&w, "xml.prolog/epilog: a comment may not hold '--'");
            break;
        }
        xmlNodePtr c = xmlNewDocComment(w.doc, (const xmlChar *) t);
        if (!c || !(pro ? xmlAddPrevSibling(root, c) : xmlAddChild((xmlNodePtr) w.doc, c))) {
            xmlFreeNode(c);
            s_wfail(&w, "out of memory");
        }
    }
    if (!w.failed) {
        xmlChar *mem = NULL;
        int size = 0;
        xmlDocDumpFormatMemoryEnc(w.doc, &mem, &size, "UTF-8", 0);
        if (!mem || knoop_buf_append(xml, mem, (size_t) size))
            s_wfail(&w, "out of memory");
        xmlFree(mem);
    }
    if (w.failed)
        rc = strstr(err, "out of memory") ? KNOOP_ENOMEM : KNOOP_EMALFORMED;
    xmlFreeDoc(w.doc);
    knoop__crisis__v1__alert__free_unpacked(al, NULL);
    return rc;
}

int knoop_xml_c14n(const char *xml, size_t len, knoop_buf_t *out, char *err, size_t err_size)
{
    return knoop_xml_c14n_mode(xml, len, true, out, err, err_size);
}

int knoop_xml_c14n_mode(const char *xml, size_t len, bool with_comments, knoop_buf_t *out,
                        char *err, size_t err_size)
{
    char dummy[8];
    err = knoop_err_buf(err, &err_size, dummy, sizeof dummy);
    xmlDocPtr doc = s_parse(xml, len, "document", err, err_size);
    if (!doc)
        return KNOOP_EMALFORMED;
    xmlChar *mem = NULL;
    int n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, with_comments ? 1 : 0, &mem);
    int rc = KNOOP_OK;
    if (n < 0 || !mem) {
        snprintf(err, err_size, "document: canonicalisation failed");
        rc = KNOOP_EMALFORMED;
    } else if (knoop_buf_append(out, mem, (size_t) n)) {
        rc = KNOOP_ENOMEM;
    }
    xmlFree(mem);
    xmlFreeDoc(doc);
    return rc;
}

void knoop_cap_file_name(const char *identifier, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) identifier;
         *p && n < 200 && n + 5 < size; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;                   /* one '_' per UTF-8 character */
        out[n++] = (*p < 0x80 && isalnum(*p)) || *p == '.' || *p == '_' || *p == '-' ?
                   (char) *p : '_';
    }
    snprintf(out + n, size - n, ".xml");
}

/* ---- Atom feed ---- */

/* A CAP dateTime as Unix seconds (it was checked at import; 0 if not). */
static int64_t s_datetime_unix(const char *t)
{
    int64_t v;
    return knoop_time_parse_cap(t, &v, NULL) == KNOOP_OK ? v : 0;
}

int knoop_cap_atom(const char *feed_id, const char *title, const uint8_t *const *payloads,
                   const size_t *lens, size_t n, knoop_buf_t *out, size_t *skipped)
{
    if (skipped)
        *skipped = 0;
    if (!feed_id || !*feed_id || !title || !*title)
        return KNOOP_EINVAL;
    xmlInitParser();
    xmlDocPtr doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNodePtr feed = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *) "feed", NULL) : NULL;
    xmlNsPtr ns = feed ? xmlNewNs(feed, (const xmlChar *) "http://www.w3.org/2005/Atom", NULL)
                       : NULL;
    if (!ns) {
        xmlFreeNode(feed);
        xmlFreeDoc(doc);
        return KNOOP_ENOMEM;
    }
    xmlSetNs(feed, ns);
    xmlDocSetRootElement(doc, feed);
    bool oom = !xmlNewTextChild(feed, ns, (const xmlChar *) "id", (const xmlChar *) feed_id) ||
               !xmlNewTextChild(feed, ns, (const xmlChar *) "title", (const xmlChar *) title);
    xmlNodePtr updated = xmlNewTextChild(feed, ns, (const xmlChar *) "updated", NULL);
    oom |= !updated;
    int64_t latest = 0;
    const char *latest_text = NULL;
    char *latest_copy = NULL;
    for (size_t i = 0; i < n && !oom; i++) {
        alert_t *al = knoop__crisis__v1__alert__unpack(NULL, lens[i], payloads[i]);
        knoop_buf_t xml = { 0 };
        xmlDocPtr one = NULL;
        if (al && knoop_cap_export(payloads[i], lens[i], &xml, NULL, 0) == KNOOP_OK)
            one = xmlReadMemory((const char *) xml.data, (int) xml.len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        knoop_buf_free(&xml);
        if (!one) {
            if (skipped)
                (*skipped)++;
            if (al)
                knoop__crisis__v1__alert__free_unpacked(al, NULL);
            continue;
        }
        const char *head = NULL;
        for (size_t k = 0; k < al->n_info && !head; k++)
            if (*al->info[k]->headline)
                head = al->info[k]->headline;
        for (size_t k = 0; k < al->n_info && !head; k++)
            if (*al->info[k]->event)
                head = al->info[k]->event;
        size_t idn = strlen(al->sender) + strlen(al->identifier) + strlen(al->sent) + 32;
        char *id = malloc(idn);
        xmlNodePtr entry = xmlNewChild(feed, ns, (const xmlChar *) "entry", NULL);
        xmlNodePtr author = entry ? xmlNewChild(entry, ns, (const xmlChar *) "author", NULL) :
                                    NULL;
        xmlNodePtr content = author ? xmlNewChild(entry, ns, (const xmlChar *) "content", NULL)
                                    : NULL;
        xmlNodePtr copy = content ? xmlDocCopyNode(xmlDocGetRootElement(one), doc, 1) : NULL;
        if (!id || !copy) {
            oom = true;
        } else {
            snprintf(id, idn, "urn:knooppunt:cap:%s,%s,%s", al->sender, al->identifier,
                     al->sent);
            oom |= !xmlNewTextChild(entry, ns, (const xmlChar *) "id", (const xmlChar *) id) ||
                   !xmlNewTextChild(entry, ns, (const xmlChar *) "title",
                                    (const xmlChar *) (head ? head : al->identifier)) ||
                   !xmlNewTextChild(entry, ns, (const xmlChar *) "updated",
                                    (const xmlChar *) al->sent) ||
                   !xmlNewTextChild(author, ns, (const xmlChar *) "name",
                                    (const xmlChar *) al->sender) ||
                   !xmlSetProp(content, (const xmlChar *) "type",
                               (const xmlChar *) "application/cap+xml");
            /* entry children in the order RFC 4287 examples use */
            xmlUnlinkNode(author);
            xmlAddChild(entry, author);
            xmlUnlinkNode(content);
            xmlAddChild(entry, content);
            xmlAddChild(content, copy);
            copy = NULL;
            int64_t t = s_datetime_unix(al->sent);
            if (t >= latest) {
                latest = t;
                free(latest_copy);
                latest_copy = strdup(al->sent);
                latest_text = latest_copy;
            }
        }
        xmlFreeNode(copy);
        free(id);
        xmlFreeDoc(one);
        knoop__crisis__v1__alert__free_unpacked(al, NULL);
    }
    char now[32];
    if (!latest_text) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        latest_text = now;
    }
    if (!oom)
        xmlNodeSetContent(updated, (const xmlChar *) latest_text);
    free(latest_copy);
    int rc = KNOOP_OK;
    if (!oom) {
        xmlChar *mem = NULL;
        int size = 0;
        xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 0);
        if (!mem || knoop_buf_append(out, mem, (size_t) size))
            oom = true;
        xmlFree(mem);
    }
    if (oom)
        rc = KNOOP_ENOMEM;
    xmlFreeDoc(doc);
    return rc;
}
