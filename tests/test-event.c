/* test-event.c: building, validating and (de)serializing one event
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ep-device-private.h"
#include "ep-event-private.h"
#include "ep-test-util.h"

static gboolean
valid (const char *text)
{
  const char *reason = NULL;
  gboolean ok = ep_event_text_is_valid (text, -1, &reason);

  g_assert_true (ok || reason != NULL);
  return ok;
}

static void
test_valid_text (void)
{
  g_assert_true (valid (""));
  g_assert_true (valid ("plain ascii {\"json\": 1}"));
  g_assert_true (valid ("tab\tnewline\ncr\r"));
  g_assert_true (valid ("\xc3\xa9t\xc3\xa9"));                 /* été */
  g_assert_true (valid ("\xe2\x82\xac"));                      /* € */
  g_assert_true (valid ("\xed\x9f\xbf"));                      /* U+D7FF */
  g_assert_true (valid ("\xee\x80\x80"));                      /* U+E000 */
  g_assert_true (valid ("\xef\xbf\xbd"));                      /* U+FFFD */
  g_assert_true (valid ("\xf0\x9f\x8e\xb5"));                  /* U+1F3B5 */
  g_assert_true (valid ("\xf4\x8f\xbf\xbf"));                  /* U+10FFFF */
  g_assert_true (valid ("\x7f \xc2\x80 \xc2\x9f"));            /* C1 and DEL: allowed by XML 1.0 */
}

static void
test_invalid_text (void)
{
  /* C0 controls other than tab, newline, carriage return. */
  for (int c = 1; c < 0x20; c++)
    {
      char text[4] = { 'a', (char) c, 'b', 0 };

      if (c == '\t' || c == '\n' || c == '\r')
        g_assert_true (valid (text));
      else
        g_assert_false (valid (text));
    }
  /* Lone surrogates, encoded as CESU would. */
  g_assert_false (valid ("\xed\xa0\x80"));                     /* U+D800 */
  g_assert_false (valid ("\xed\xbf\xbf"));                     /* U+DFFF */
  g_assert_false (valid ("x\xed\xb0\x80y"));
  /* Non-characters XML excludes. */
  g_assert_false (valid ("\xef\xbf\xbe"));                     /* U+FFFE */
  g_assert_false (valid ("\xef\xbf\xbf"));                     /* U+FFFF */
  /* Malformed UTF-8. */
  g_assert_false (valid ("\xc3"));                             /* truncated */
  g_assert_false (valid ("\xc3\x28"));                         /* bad continuation */
  g_assert_false (valid ("\xc0\xaf"));                         /* overlong */
  g_assert_false (valid ("\xe0\x80\xaf"));                     /* overlong */
  g_assert_false (valid ("\xf0\x80\x80\xaf"));                 /* overlong */
  g_assert_false (valid ("\xf4\x90\x80\x80"));                 /* > U+10FFFF */
  g_assert_false (valid ("\xff"));
  g_assert_false (valid ("\x80"));
}

/* The word-at-a-time fast path finds a bad byte at any position. */
static void
test_invalid_text_any_position (void)
{
  const char *bad[] = { "\x01", "\x1f", "\xef\xbf\xbe", "\xff", "\xed\xa0\x80" };

  for (guint b = 0; b < G_N_ELEMENTS (bad); b++)
    for (guint pos = 0; pos < 40; pos++)
      {
        g_autoptr(GString) text = g_string_new (NULL);

        for (guint i = 0; i < pos; i++)
          g_string_append_c (text, 'a' + i % 26);
        g_string_append (text, bad[b]);
        g_string_append (text, "0123456789abcdef");
        g_assert_false (valid (text->str));
        /* And the same text without the bad part is fine. */
        g_string_erase (text, pos, strlen (bad[b]));
        g_assert_true (valid (text->str));
      }
}

static void
test_uuid (void)
{
  g_autoptr(GRand) rand = g_rand_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 10000; i++)
    {
      char id[EP_UUID_LEN + 1];

      ep_event_format_uuid_v4 (rand, id);
      g_assert_true (g_uuid_string_is_valid (id));
      g_assert_cmpint (id[14], ==, '4');
      g_assert_true (strchr ("89ab", id[19]) != NULL);
      for (guint c = 0; c < EP_UUID_LEN; c++)
        g_assert_false (g_ascii_isupper (id[c]));
      g_assert_true (g_hash_table_add (seen, g_strdup (id)));
    }
}

static void
test_decimal (void)
{
  gint64 values[] = { 0, 7, 10, 1795732967221, -42, G_MAXINT64, G_MININT64 };

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      char ours[24];
      g_autofree char *expected = g_strdup_printf ("%" G_GINT64_FORMAT, values[i]);
      gsize len = ep_event_format_decimal (values[i], ours);

      g_assert_cmpstr (ours, ==, expected);
      g_assert_cmpuint (len, ==, strlen (expected));
    }
}

/* Our escaper must produce JSON that json-glib reads back to the same
 * strings, for every byte that can reach it. */
static void
test_json_escaping (void)
{
  const char *samples[] = {
    "", "plain", "quote \" backslash \\ slash /", "\n\r\t\b\f", "\x01\x1f\x7f",
    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xb5", "</script>", "\xe2\x80\xa8",
  };

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      g_autoptr(GString) json = g_string_new ("[");
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonArray *array;

      ep_event_append_json_string (json, samples[i]);
      g_string_append_c (json, ']');
      json_parser_load_from_data (parser, json->str, -1, &error);
      g_assert_no_error (error);
      array = json_node_get_array (json_parser_get_root (parser));
      g_assert_cmpstr (json_array_get_string_element (array, 0), ==, samples[i]);
    }
}

static void
test_headers_json (void)
{
  EpHeader defaults[] = {
    { "app-name", "player" },
    { "app-version", NULL },
    { "client-id", "abc" },
    { "os-name", "" },
  };
  g_autoptr(GHashTable) caller = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char *reason = NULL;
  const char *bad_key = NULL;
  JsonObject *object;

  g_hash_table_insert (caller, "client-id", "override");
  g_hash_table_insert (caller, "extra", "x\"y");
  g_assert_true (ep_event_build_headers_json (out, defaults, G_N_ELEMENTS (defaults), caller,
                                              &reason, &bad_key));
  /* Defaults keep their order and come first. */
  g_assert_true (g_str_has_prefix (out->str, "{\"app-name\":\"player\",\"client-id\":\"override\""));

  json_parser_load_from_data (parser, out->str, -1, &error);
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpuint (json_object_get_size (object), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (object, "app-name"), ==, "player");
  g_assert_cmpstr (json_object_get_string_member (object, "client-id"), ==, "override");
  g_assert_cmpstr (json_object_get_string_member (object, "extra"), ==, "x\"y");
  /* Unknown and empty defaults are omitted, never sent empty. */
  g_assert_false (json_object_has_member (object, "app-version"));
  g_assert_false (json_object_has_member (object, "os-name"));

  /* A bad caller header fails and names the key. */
  g_hash_table_insert (caller, "bad", "\x01");
  g_assert_false (ep_event_build_headers_json (out, defaults, G_N_ELEMENTS (defaults), caller,
                                               &reason, &bad_key));
  g_assert_cmpstr (bad_key, ==, "bad");
  g_assert_nonnull (reason);
}

static void
check_record_matches_gvariant (const char *id,
                               const char *name,
                               const char *headers,
                               const char *payload)
{
  g_autoptr(GByteArray) ours = g_byte_array_new ();
  g_autoptr(GVariant) reference = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_auto(EpEvent) event = { 0 };
  g_autoptr(GError) error = NULL;
  gint64 created = 1700000000123456;

  ep_event_record_build (ours, created, id, name, strlen (name), headers, strlen (headers),
                         payload, strlen (payload));
  reference = g_variant_ref_sink (g_variant_new ("(xssss)", created, id, name, headers, payload));
  g_assert_cmpmem (ours->data, ours->len, g_variant_get_data (reference), g_variant_get_size (reference));

  bytes = g_bytes_new (ours->data, ours->len);
  g_assert_true (ep_event_parse (bytes, &event, &error));
  g_assert_no_error (error);
  g_assert_cmpint (event.created_us, ==, created);
  g_assert_cmpstr (event.id, ==, id);
  g_assert_cmpstr (event.name, ==, name);
  g_assert_cmpstr (event.headers_json, ==, headers);
  g_assert_cmpstr (event.payload, ==, payload);
  g_assert_cmpuint (event.logical_size, ==, strlen (id) + strlen (name) + strlen (headers) + strlen (payload));
  g_assert_cmpstr (ep_event_record_peek_name (ours->data, ours->len), ==, name);
}

/* The hand-written serializer is byte-identical to g_variant_new() across
 * every framing-offset width. */
static void
test_record_format (void)
{
  const char *id = "3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d";
  g_autofree char *medium = g_strnfill (300, 'm');
  g_autofree char *large = g_strnfill (70000, 'L');

  check_record_matches_gvariant (id, "e", "{}", "");
  check_record_matches_gvariant (id, "playback_session", "{\"a\":\"b\"}", "{\"x\":1}");
  check_record_matches_gvariant (id, "n", "{}", medium);
  check_record_matches_gvariant (id, "n", medium, large);
}

/* ep_event_parse() takes a record exactly when GVariant calls it an
 * "(xssss)" in normal form, and reads the same values: checked on valid
 * records of every offset width, mangled at random (bytes changed, framing
 * offsets set anywhere, cut short, grown), with a fixed seed. */
static gboolean
check_parse_agrees (const guint8 *data,
                    gsize         len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);
  g_autoptr(GVariant) variant = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(xssss)"),
                                                                              bytes, FALSE));
  g_auto(EpEvent) event = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean normal = g_variant_is_normal_form (variant);
  const char *id, *name, *headers, *payload;
  gint64 created;

  g_assert_cmpint (ep_event_parse (bytes, &event, &error), ==, normal);
  if (!normal)
    {
      g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
      return FALSE;
    }
  g_assert_no_error (error);
  g_variant_get (variant, "(x&s&s&s&s)", &created, &id, &name, &headers, &payload);
  g_assert_cmpint (event.created_us, ==, created);
  g_assert_cmpstr (event.id, ==, id);
  g_assert_cmpstr (event.name, ==, name);
  g_assert_cmpstr (event.headers_json, ==, headers);
  g_assert_cmpstr (event.payload, ==, payload);
  g_assert_cmpuint (event.logical_size, ==, strlen (id) + strlen (name) + strlen (headers) + strlen (payload));
  return TRUE;
}

static void
test_record_parse_mangled (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261130);
  const gsize sizes[] = { 0, 1, 200, 240, 300, 65400, 70000 };
  const char *headers = "{\"h\":\"\xc3\xa9\"}";
  guint n_normal = 0, n_total = 0;

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autofree char *payload = g_strnfill (sizes[s], 'p');
      g_autoptr(GByteArray) record = g_byte_array_new ();
      guint rounds = sizes[s] > 10000 ? 200 : 3000;

      ep_event_record_build (record, -42, "3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d", "name", 4,
                             headers, strlen (headers), payload, sizes[s]);
      g_assert_true (check_parse_agrees (record->data, record->len));
      for (guint r = 0; r < rounds; r++)
        {
          g_autoptr(GByteArray) copy = g_byte_array_sized_new (record->len + 8);
          guint kind = g_rand_int_range (rand, 0, 5);
          gsize len;
          guint8 *p;

          g_byte_array_append (copy, record->data, record->len);
          len = copy->len;
          p = copy->data;
          if (kind == 0)        /* a byte anywhere */
            p[g_rand_int_range (rand, 0, len)] = (guint8) g_rand_int_range (rand, 0, 256);
          else if (kind == 1)   /* a byte of the framing offsets */
            p[len - 1 - g_rand_int_range (rand, 0, MIN (len, 24))] = (guint8) g_rand_int_range (rand, 0, 256);
          else if (kind == 2)   /* a nul or a bad UTF-8 byte in the strings */
            p[8 + g_rand_int_range (rand, 0, len - 8)] = g_rand_boolean (rand) ? 0 : 0xff;
          else if (kind == 3)   /* cut short */
            len = g_rand_int_range (rand, 0, len);
          else                  /* grown */
            {
              guint8 extra[8];

              for (guint i = 0; i < sizeof extra; i++)
                extra[i] = (guint8) g_rand_int_range (rand, 0, 4);
              g_byte_array_append (copy, extra, g_rand_int_range (rand, 1, 9));
              len = copy->len;
              p = copy->data;
            }
          n_normal += check_parse_agrees (p, len);
          n_total++;
        }
    }
  /* Both outcomes were seen (a change to a payload byte may stay valid). */
  g_assert_cmpuint (n_normal, >, 0);
  g_assert_cmpuint (n_normal, <, n_total);
  /* Short random records. */
  for (guint i = 0; i < 2000; i++)
    {
      guint8 record[64];

      for (guint j = 0; j < sizeof record; j++)
        record[j] = (guint8) g_rand_int_range (rand, 0, 4);
      check_parse_agrees (record, g_rand_int_range (rand, 0, sizeof record + 1));
    }
}

static void
test_record_corrupt (void)
{
  g_autoptr(GBytes) garbage = g_bytes_new_static ("not a record at all", 19);
  g_auto(EpEvent) event = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_false (ep_event_parse (garbage, &event, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_null (ep_event_record_peek_name ((const guint8 *) "short", 5));
}

static void
test_os_release (void)
{
  const char *contents =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
    "NAME=\"Debian GNU/Linux\"\n"
    "VERSION_ID=\"12\"\n"
    "ID=debian\n"
    "EMPTY=\n";
  g_autofree char *name = ep_os_release_lookup (contents, "NAME");
  g_autofree char *version = ep_os_release_lookup (contents, "VERSION_ID");
  g_autofree char *id = ep_os_release_lookup (contents, "ID");
  g_autofree char *empty = ep_os_release_lookup (contents, "EMPTY");
  g_autofree char *missing = ep_os_release_lookup (contents, "BUILD_ID");

  g_assert_cmpstr (name, ==, "Debian GNU/Linux");
  g_assert_cmpstr (version, ==, "12");
  g_assert_cmpstr (id, ==, "debian");
  g_assert_null (empty);
  g_assert_null (missing);
}

static void
write_file (const char *root,
            const char *path,
            const char *contents)
{
  g_autofree char *full = g_build_filename (root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (full, contents, -1, &error);
  g_assert_no_error (error);
}

/* Issue 10: under Flatpak /etc/os-release is the runtime's; the host's at
 * /run/host/os-release wins when it exists. */
static void
test_device_detect_flatpak (void)
{
  g_autofree char *root = ep_test_make_dir ("device-root");
  g_autoptr(EpDeviceInfo) plain = NULL;
  g_autoptr(EpDeviceInfo) flatpak = NULL;
  g_autoptr(EpDeviceInfo) nothing = NULL;

  nothing = ep_device_info_detect (root);
  g_assert_null (nothing->os_name);
  g_assert_null (nothing->vendor);

  write_file (root, "usr/lib/os-release", "NAME=\"Fallback\"\nVERSION_ID=0\n");
  write_file (root, "etc/os-release", "NAME=\"GNOME Runtime\"\nVERSION_ID=\"45\"\n");
  write_file (root, "sys/class/dmi/id/sys_vendor", "ACME Inc.\n");
  write_file (root, "sys/class/dmi/id/product_name", "  Laptop 9 \n");
  plain = ep_device_info_detect (root);
  g_assert_cmpstr (plain->os_name, ==, "GNOME Runtime");
  g_assert_cmpstr (plain->os_version, ==, "45");
  g_assert_cmpstr (plain->vendor, ==, "ACME Inc.");
  g_assert_cmpstr (plain->model, ==, "Laptop 9");

  write_file (root, "run/host/os-release", "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n");
  flatpak = ep_device_info_detect (root);
  g_assert_cmpstr (flatpak->os_name, ==, "Debian GNU/Linux");
  g_assert_cmpstr (flatpak->os_version, ==, "12");
}

/* Issue 22: in a Flatpak sandbox without XDG_STATE_HOME (Flatpak before
 * 1.13), ~/.local/state is a tmpfs; the default queue goes in the app's own
 * ~/.var/app/ID/.local/state instead. With XDG_STATE_HOME, or outside a
 * sandbox, it is $XDG_STATE_HOME/ep-glib/NAME as before. */
static void
test_default_queue_dir_flatpak (void)
{
  g_autofree char *root = ep_test_make_dir ("sandbox-root");
  g_autofree char *state_home = g_strdup (g_getenv ("XDG_STATE_HOME"));   /* usually NULL */
  g_autofree char *host = g_build_filename (g_get_user_state_dir (), "ep-glib", "my-player", NULL);
  g_autofree char *persistent = g_build_filename (g_get_home_dir (), ".var", "app",
                                                  "org.example.Player", ".local", "state",
                                                  "ep-glib", "my-player", NULL);
  g_autofree char *outside = NULL;
  g_autofree char *with_state_home = NULL;
  g_autofree char *without_state_home = NULL;
  g_autofree char *relative_state_home = NULL;
  gboolean fallback = TRUE;

  g_unsetenv ("XDG_STATE_HOME");
  outside = ep_default_queue_dir (root, "my-player", &fallback);
  g_assert_false (fallback);
  g_assert_cmpstr (outside, ==, host);

  write_file (root, ".flatpak-info", "[Application]\nname=org.example.Player\nruntime=runtime/org.gnome.Platform/x86_64/45\n");
  without_state_home = ep_default_queue_dir (root, "my-player", &fallback);
  g_assert_true (fallback);
  g_assert_cmpstr (without_state_home, ==, persistent);

  g_setenv ("XDG_STATE_HOME", "relative/state", TRUE);
  relative_state_home = ep_default_queue_dir (root, "my-player", &fallback);
  g_assert_true (fallback);
  g_assert_cmpstr (relative_state_home, ==, persistent);

  /* GLib's isolated test directories are set without the environment; an
   * absolute XDG_STATE_HOME is what counts. */
  g_setenv ("XDG_STATE_HOME", g_get_user_state_dir (), TRUE);
  with_state_home = ep_default_queue_dir (root, "my-player", &fallback);
  g_assert_false (fallback);
  g_assert_cmpstr (with_state_home, ==, host);

  if (state_home != NULL)
    g_setenv ("XDG_STATE_HOME", state_home, TRUE);
  else
    g_unsetenv ("XDG_STATE_HOME");
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/event/valid-text", test_valid_text);
  g_test_add_func ("/ep/event/invalid-text", test_invalid_text);
  g_test_add_func ("/ep/event/invalid-text-any-position", test_invalid_text_any_position);
  g_test_add_func ("/ep/event/uuid", test_uuid);
  g_test_add_func ("/ep/event/decimal", test_decimal);
  g_test_add_func ("/ep/event/json-escaping", test_json_escaping);
  g_test_add_func ("/ep/event/headers-json", test_headers_json);
  g_test_add_func ("/ep/event/record-format", test_record_format);
  g_test_add_func ("/ep/event/record-corrupt", test_record_corrupt);
  g_test_add_func ("/ep/event/record-parse-mangled", test_record_parse_mangled);
  g_test_add_func ("/ep/event/os-release", test_os_release);
  g_test_add_func ("/ep/event/device-detect-flatpak", test_device_detect_flatpak);
  g_test_add_func ("/ep/event/default-queue-dir-flatpak", test_default_queue_dir_flatpak);

  return g_test_run ();
}
