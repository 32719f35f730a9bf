/* cli_payload.c — `knoop payload encode|decode`: one payload between its
 * proto3 JSON form and its protobuf bytes, without a node. For scripts that
 * hand payloads to other protobuf software, and for checking a payload
 * before publishing it. */
#include "cli.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_group_help[] =
"usage: knoop payload encode --type TYPE [FILE]\n"
"       knoop payload decode --type TYPE [FILE]\n"
"       knoop payload types\n"
"\n"
"knoop payload encode --help and knoop payload decode --help explain each.\n";

static const char s_description[] =
"encode reads one JSON object (FILE or stdin) and writes the protobuf\n"
"bytes of TYPE to stdout, after the checks a node applies on publish\n"
"(times, coordinates, value ranges; the error names the field).\n"
"decode reads protobuf bytes and writes the canonical proto3 JSON: .proto\n"
"field names, enums by name, 64-bit integers as strings, doubles in\n"
"their shortest exact form. Input JSON may use .proto names or\n"
"lowerCamelCase and integers as strings, as the proto3 mapping allows.\n"
"knoop payload types lists the payload types.";

static const char s_exit[] =
"0 done, 1 the input is not a valid payload of TYPE (reason on stderr),\n"
"2 usage or I/O error.";

static const char s_examples[] =
"echo '{\"region\":\"vr-utrecht\",\"level\":\"GRIP_2\"}' |\n"
"    knoop payload encode --type knoop.crisis.v1.GripLevel >grip.pb\n"
"knoop payload decode --type knoop.crisis.v1.GripLevel grip.pb";

static const knoop_cmd_t s_cmds[] = {
    { .prog = "knoop payload encode", .section = "payload-encode",
      .summary = "a payload from proto3 JSON to protobuf bytes", .description = s_description,
      .operands = "[FILE]", .operands_max = 1, .exit_status = s_exit, .examples = s_examples },
    { .prog = "knoop payload decode", .section = "payload-decode",
      .summary = "a payload from protobuf bytes to proto3 JSON", .description = s_description,
      .operands = "[FILE]", .operands_max = 1, .exit_status = s_exit, .examples = s_examples },
};

static const knoop_opt_spec_t s_spec[] = {
    { "type", KNOOP_OPT_STRING, NULL, "TYPE", "the payload type (see knoop payload types)",
      true },
    { NULL },
};

#define S_INPUT_MAX (KNOOP_PAYLOAD_MAX * 4u + 4096u)

/* All of FILE (or stdin for NULL / "-") into a malloc'd buffer. */
static int s_slurp(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = !path || !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "knoop payload: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    knoop_buf_t b = { 0 };
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > S_INPUT_MAX) {
            fprintf(stderr, "knoop payload: input larger than %u bytes\n", S_INPUT_MAX);
            rc = 2;
            break;
        }
        if (knoop_buf_append(&b, chunk, n) != KNOOP_OK) {
            fprintf(stderr, "knoop payload: out of memory\n");
            rc = 2;
            break;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "knoop payload: read error: %s\n", strerror(errno));
        rc = 2;
    }
    if (f != stdin)
        fclose(f);
    if (rc) {
        knoop_buf_free(&b);
        return rc;
    }
    *out = b.data;
    *len = b.len;
    return 0;
}

static int s_run(bool encode, const char *type, const char *file);

int knoop_cli_payload(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_group_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "types")) {
        for (const char *const *t = knoop_payload_types(); *t; t++)
            printf("%s\n", *t);
        return 0;
    }
    bool encode = !strcmp(verb, "encode");
    if (!encode && strcmp(verb, "decode")) {
        fprintf(stderr, "knoop payload: unknown verb '%s' (encode, decode or types)\n", verb);
        return 2;
    }
    knoop_config_t *cfg;
    int rc0 = cli_options(&s_cmds[encode ? 0 : 1], s_spec, argc - 1, argv + 1, &cfg);
    if (rc0 != -1)
        return rc0;
    const char *type = knoop_config_str(cfg, "type");
    const char *const *files;
    const char *file = knoop_config_operands(cfg, &files) ? files[0] : NULL;
    int status = s_run(encode, type, file);
    knoop_config_destroy(&cfg);
    return status;
}

static int s_run(bool encode, const char *type, const char *file)
{
    if (!type || !knoop_payload_type_known(type)) {
        fprintf(stderr, "knoop payload: --type must name a payload type; known:");
        for (const char *const *t = knoop_payload_types(); *t; t++)
            fprintf(stderr, " %s", *t);
        fprintf(stderr, "\n");
        return 2;
    }
    uint8_t *in = NULL;
    size_t len = 0;
    int rc = s_slurp(file, &in, &len);
    if (rc)
        return rc;
    int status = 0;
    if (encode) {
        json_error_t jerr;
        json_t *obj = json_loadb((const char *) in, len, JSON_REJECT_DUPLICATES, &jerr);
        knoop_buf_t pb = { 0 };
        char err[512] = "";
        if (!obj) {
            fprintf(stderr, "knoop payload: not JSON: %s (line %d, column %d)\n", jerr.text,
                    jerr.line, jerr.column);
            status = 1;
        }
        else if ((rc = knoop_payload_from_json(type, obj, &pb, err, sizeof err)) != KNOOP_OK) {
            fprintf(stderr, "knoop payload: %s: %s\n", type, *err ? err : knoop_strerror(rc));
            status = 1;
        }
        else if (pb.len && fwrite(pb.data, 1, pb.len, stdout) != pb.len) {
            fprintf(stderr, "knoop payload: write error: %s\n", strerror(errno));
            status = 2;
        }
        json_decref(obj);
        knoop_buf_free(&pb);
    } else {
        json_t *obj = NULL;
        rc = knoop_payload_to_json(type, in, len, &obj);
        char *text = rc == KNOOP_OK ? knoop_json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)
                                    : NULL;
        if (rc) {
            fprintf(stderr, "knoop payload: %zu bytes are not a %s: %s\n", len, type,
                    knoop_strerror(rc));
            status = 1;
        } else if (!text) {
            fprintf(stderr, "knoop payload: out of memory\n");
            status = 2;
        } else
            printf("%s\n", text);
        free(text);
        json_decref(obj);
    }
    free(in);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "knoop payload: write error: %s\n", strerror(errno));
        status = 2;
    }
    return status;
}
