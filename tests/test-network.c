/* test-network.c: GNetworkMonitor reports: no scheduled attempts while
 * offline, an attempt as soon as the network is back, flush still tries;
 * metered networks and power saver hold deliveries back
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A network monitor and a power-profile monitor of our own are registered
 * on GIO's extension points and selected with GIO_USE_NETWORK_MONITOR and
 * GIO_USE_POWER_PROFILE_MONITOR, so the producer gets them from
 * g_network_monitor_get_default() and g_power_profile_monitor_dup_default()
 * exactly as it gets the system's.
 */
#include "config.h"

#include "ep-constraints-private.h"
#include "ep-test-server.h"
#include "ep-test-util.h"

#define TEST_TYPE_NETWORK_MONITOR (test_network_monitor_get_type ())
G_DECLARE_FINAL_TYPE (TestNetworkMonitor, test_network_monitor, TEST, NETWORK_MONITOR, GObject)

struct _TestNetworkMonitor
{
  GObject  parent_instance;
  gboolean available;
  gboolean metered;
};

enum {
  PROP_0,
  PROP_NETWORK_AVAILABLE,
  PROP_NETWORK_METERED,
  PROP_CONNECTIVITY,
};

static void test_network_monitor_iface_init (GNetworkMonitorInterface *iface);
static void test_network_monitor_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestNetworkMonitor, test_network_monitor, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      test_network_monitor_initable_iface_init)
                               G_IMPLEMENT_INTERFACE (G_TYPE_NETWORK_MONITOR,
                                                      test_network_monitor_iface_init))

static void
test_network_monitor_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  TestNetworkMonitor *self = TEST_NETWORK_MONITOR (object);

  switch (prop_id)
    {
    case PROP_NETWORK_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    case PROP_NETWORK_METERED:
      g_value_set_boolean (value, self->metered);
      break;
    case PROP_CONNECTIVITY:
      g_value_set_enum (value, self->available ? G_NETWORK_CONNECTIVITY_FULL
                                               : G_NETWORK_CONNECTIVITY_LOCAL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
test_network_monitor_class_init (TestNetworkMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = test_network_monitor_get_property;
  g_object_class_override_property (object_class, PROP_NETWORK_AVAILABLE, "network-available");
  g_object_class_override_property (object_class, PROP_NETWORK_METERED, "network-metered");
  g_object_class_override_property (object_class, PROP_CONNECTIVITY, "connectivity");
}

static void
test_network_monitor_init (TestNetworkMonitor *self)
{
  self->available = TRUE;
}

/* Without a network nothing can be reached, not even loopback: the
 * producer's consumer (on 127.0.0.1 in these tests) counts as offline. */
static gboolean
test_network_monitor_can_reach (GNetworkMonitor     *monitor,
                                GSocketConnectable  *connectable,
                                GCancellable        *cancellable,
                                GError             **error)
{
  if (TEST_NETWORK_MONITOR (monitor)->available)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE, "no network (test)");
  return FALSE;
}

static void
test_network_monitor_iface_init (GNetworkMonitorInterface *iface)
{
  iface->can_reach = test_network_monitor_can_reach;
}

static gboolean
test_network_monitor_initable_init (GInitable     *initable,
                                    GCancellable  *cancellable,
                                    GError       **error)
{
  return TRUE;
}

static void
test_network_monitor_initable_iface_init (GInitableIface *iface)
{
  iface->init = test_network_monitor_initable_init;
}

#define TEST_TYPE_POWER_MONITOR (test_power_monitor_get_type ())
G_DECLARE_FINAL_TYPE (TestPowerMonitor, test_power_monitor, TEST, POWER_MONITOR, GObject)

struct _TestPowerMonitor
{
  GObject  parent_instance;
  gboolean power_saver;
};

enum {
  PROP_POWER_0,
  PROP_POWER_SAVER_ENABLED,
};

static void test_power_monitor_iface_init (GPowerProfileMonitorInterface *iface);

/* GPowerProfileMonitor requires GInitable. */
G_DEFINE_FINAL_TYPE_WITH_CODE (TestPowerMonitor, test_power_monitor, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      test_network_monitor_initable_iface_init)
                               G_IMPLEMENT_INTERFACE (G_TYPE_POWER_PROFILE_MONITOR,
                                                      test_power_monitor_iface_init))

static void
test_power_monitor_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  TestPowerMonitor *self = TEST_POWER_MONITOR (object);

  switch (prop_id)
    {
    case PROP_POWER_SAVER_ENABLED:
      g_value_set_boolean (value, self->power_saver);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
test_power_monitor_class_init (TestPowerMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = test_power_monitor_get_property;
  g_object_class_override_property (object_class, PROP_POWER_SAVER_ENABLED, "power-saver-enabled");
}

static void
test_power_monitor_init (TestPowerMonitor *self)
{
}

static void
test_power_monitor_iface_init (GPowerProfileMonitorInterface *iface)
{
}

static void
set_metered (gboolean metered)
{
  TestNetworkMonitor *monitor = TEST_NETWORK_MONITOR (g_network_monitor_get_default ());

  monitor->metered = metered;
  g_object_notify (G_OBJECT (monitor), "network-metered");
}

static void
set_power_saver (gboolean enabled)
{
  g_autoptr(GPowerProfileMonitor) monitor = g_power_profile_monitor_dup_default ();

  TEST_POWER_MONITOR (monitor)->power_saver = enabled;
  g_object_notify (G_OBJECT (monitor), "power-saver-enabled");
}

static void
set_network (gboolean available)
{
  TestNetworkMonitor *monitor = TEST_NETWORK_MONITOR (g_network_monitor_get_default ());

  monitor->available = available;
  g_object_notify (G_OBJECT (monitor), "network-available");
  g_signal_emit_by_name (monitor, "network-changed", available);
}

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   guint      *changes)
{
  (*changes)++;
}

/* After a failure the backoff is at least batch-interval (a minute here);
 * the network coming back brings the next attempt forward to seconds. */
static void
test_network_back_triggers_attempt (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = ep_test_make_dir ("network");
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/public/event-batch");
  g_autoptr(EpProducer) producer = NULL;
  guint changes = 0;

  producer = ep_test_producer_new (dir, uri, uri, NULL, "batch-interval", 60 * 1000, NULL);
  g_assert_true (TEST_IS_NETWORK_MONITOR (g_network_monitor_get_default ()));
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), &changes);

  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (server, 503, "text/plain", "offline", NULL);
  g_assert_false (ep_test_flush (producer, &error));
  g_clear_error (&error);
  g_assert_true (ep_producer_get_outage (producer));

  /* Losing the network ends the outage (offline is not one)... */
  set_network (FALSE);
  EP_TEST_SPIN_UNTIL (changes == 2);
  /* ...and its return brings an attempt within seconds, not a minute. */
  set_network (TRUE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpuint (changes, ==, 2);
  g_assert_false (ep_producer_get_outage (producer));

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* Offline, scheduled attempts stop (the outage does not start: offline is
 * not one), and the network's return brings one within a second. */
static void
test_network_down_holds_attempts (void)
{
  g_autofree char *dir = ep_test_make_dir ("network-down");
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/public/event-batch");
  g_autoptr(EpProducer) producer = NULL;
  g_autofree char *last_error = NULL;
  guint changes = 0;
  gint64 back;

  producer = ep_test_producer_new (dir, uri, uri, NULL, "batch-interval", 20, NULL);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), &changes);
  set_network (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_outage_reason (producer) == EP_OUTAGE_REASON_OFFLINE);
  last_error = ep_producer_dup_last_error (producer);
  g_assert_true (g_str_match_string ("network", last_error, TRUE));
  g_assert_false (ep_producer_get_outage (producer));

  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  /* The batch timer (20 ms) is armed, fires, and is not armed again. */
  EP_TEST_SPIN_UNTIL (ep_test_find_source (NULL, "[ep-glib] batch timer") != NULL);
  EP_TEST_SPIN_UNTIL (ep_test_find_source (NULL, "[ep-glib] batch timer") == NULL);
  for (guint i = 0; i < 10; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 0);
  g_assert_null (ep_test_find_source (NULL, "[ep-glib] batch timer"));
  /* More events arm nothing either. */
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 2);
  for (guint i = 0; i < 10; i++)
    ep_test_iterate ();
  g_assert_null (ep_test_find_source (NULL, "[ep-glib] batch timer"));
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 0);

  back = g_get_monotonic_time ();
  set_network (TRUE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpint (g_get_monotonic_time () - back, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_NONE);
  g_assert_cmpuint (changes, ==, 0);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* The monitor may be wrong: offline, a flush still tries (and a consumer
 * that answers is delivered to); one that fails starts no outage. */
static void
test_network_down_flush_tries (void)
{
  g_autofree char *dir = ep_test_make_dir ("network-down-flush");
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/public/event-batch");
  g_autoptr(EpProducer) producer = NULL;

  producer = ep_test_producer_new (dir, uri, uri, NULL, "batch-interval", 20, NULL);
  set_network (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_outage_reason (producer) == EP_OUTAGE_REASON_OFFLINE);
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  /* A failure while offline was to be expected: no outage. */
  ep_test_server_push_reply (server, 503, "text/plain", "down", NULL);
  g_assert_false (ep_test_flush (producer, NULL));
  g_assert_false (ep_producer_get_outage (producer));
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_OFFLINE);
  g_assert_true (ep_test_flush (producer, NULL));
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (server)->len, ==, 1);
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 2);
  set_network (TRUE);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* A delivery outage, then no network: the outage ends (offline is not
 * one) and the reason says offline; back online, the failing consumer is
 * tried at once and the outage is back with its reason, then over. */
static void
test_network_down_ends_outage (void)
{
  g_autofree char *dir = ep_test_make_dir ("network-down-outage");
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/public/event-batch");
  g_autoptr(EpProducer) producer = NULL;
  guint changes = 0;

  producer = ep_test_producer_new (dir, uri, uri, NULL, "batch-interval", 60 * 1000, NULL);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), &changes);
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (server, 503, "text/plain", "down", NULL);
  g_assert_false (ep_test_flush (producer, NULL));
  g_assert_true (ep_producer_get_outage (producer));
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_HTTP_ERROR);

  set_network (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_outage_reason (producer) == EP_OUTAGE_REASON_OFFLINE);
  g_assert_false (ep_producer_get_outage (producer));
  g_assert_cmpuint (changes, ==, 2);

  ep_test_server_push_reply (server, 503, "text/plain", "still down", NULL);
  set_network (TRUE);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (server) == 2);
  EP_TEST_SPIN_UNTIL (changes == 3);
  g_assert_true (ep_producer_get_outage (producer));
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_HTTP_ERROR);
  g_assert_true (ep_test_flush (producer, NULL));
  g_assert_false (ep_producer_get_outage (producer));
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_NONE);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* How long until @name fires, in ms, once it is armed. */
static gint64
armed_delay_ms (const char *name)
{
  GSource *timer;

  EP_TEST_SPIN_UNTIL ((timer = ep_test_find_source (NULL, name)) != NULL);
  return (g_source_get_ready_time (timer) - g_get_monotonic_time ()) / 1000;
}

static EpProducer *
constrained_producer_new (const char   *dir,
                          EpTestServer *server,
                          guint         batch_interval_ms,
                          guint         monitoring_interval_ms)
{
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/public/event-batch");

  return ep_test_producer_new (dir, uri, uri, NULL,
                               "batch-interval", batch_interval_ms,
                               "monitoring-interval", monitoring_interval_ms,
                               "constrained-interval", 60 * 1000,
                               NULL);
}

/* While the network is metered, a scheduled delivery waits a
 * constrained-interval after the last attempt; flush does not wait, and
 * the end of the constraint brings the held delivery back at once. */
static void
test_metered_holds_deliveries (void)
{
  g_autofree char *dir = ep_test_make_dir ("metered");
  EpTestServer *server = ep_test_server_new ();
  g_autoptr(EpProducer) producer = constrained_producer_new (dir, server, 20, 3600 * 1000);

  /* An attempt (a flush: its drain is over when it returns). */
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_true (ep_test_flush (producer, NULL));

  set_metered (TRUE);
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] batch timer"), >, 50 * 1000);

  g_assert_true (ep_test_flush (producer, NULL));
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 2);

  /* The flush was an attempt too. */
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] batch timer"), >, 50 * 1000);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] batch timer"), <=, 62 * 1000);

  set_metered (FALSE);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] batch timer"), <, 1000);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 3);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* Power saver holds monitoring events back the same way. */
static void
test_power_saver_holds_monitoring (void)
{
  g_autofree char *dir = ep_test_make_dir ("power-saver");
  EpTestServer *server = ep_test_server_new ();
  g_autoptr(EpProducer) producer = constrained_producer_new (dir, server, 3600 * 1000, 20);

  set_power_saver (TRUE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
  /* The first one is not held (nothing was sent yet); it fails. */
  ep_test_server_push_reply (server, 500, "text/plain", "down", NULL);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (server) == 1);
  EP_TEST_SPIN_UNTIL (ep_test_find_source (NULL, "[ep-glib] monitoring timer") != NULL);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] monitoring timer"), >, 50 * 1000);

  set_power_saver (FALSE);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] monitoring timer"), <, 1000);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_confirmed_ids (server)->len == 1);
  g_assert_cmpuint (ep_test_server_get_n_requests (server), ==, 2);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* After a refusal, new credentials are tried at once, metered or not: an
 * application may hold playback until they work. */
static void
test_metered_new_credentials_not_held (void)
{
  g_autofree char *dir = ep_test_make_dir ("metered-credentials");
  EpTestServer *server = ep_test_server_new ();
  g_autoptr(EpProducer) producer = constrained_producer_new (dir, server, 3600 * 1000, 3600 * 1000);
  g_autoptr(EpCredentials) expired = ep_credentials_new ("expired", "client");
  g_autoptr(EpCredentials) fresh = ep_credentials_new ("fresh", "client");
  gint64 start;

  set_metered (TRUE);
  ep_producer_set_credentials (producer, expired);
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (server, 401, "text/plain", "expired", NULL);
  g_assert_false (ep_test_flush (producer, NULL));

  start = g_get_monotonic_time ();
  ep_producer_set_credentials (producer, fresh);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  set_metered (FALSE);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

/* close delivers what is queued, constrained or not. */
static void
test_metered_close_unaffected (void)
{
  g_autofree char *dir = ep_test_make_dir ("metered-close");
  EpTestServer *server = ep_test_server_new ();
  g_autoptr(EpProducer) producer = constrained_producer_new (dir, server, 20, 3600 * 1000);
  g_autoptr(GAsyncResult) result = NULL;

  /* An attempt (a flush: its drain is over when it returns). */
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_true (ep_test_flush (producer, NULL));
  set_metered (TRUE);
  ep_producer_send_event (producer, "net", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_cmpint (armed_delay_ms ("[ep-glib] batch timer"), >, 50 * 1000);

  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, NULL));
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (server)->len, ==, 2);
  set_metered (FALSE);

  g_clear_object (&producer);
  ep_test_server_free (server);
}

static void
on_constraints_changed (gpointer user_data,
                        gboolean active)
{
  GArray *reports = user_data;

  g_array_append_val (reports, active);
}

static gboolean
report_is (GArray   *reports,
           guint     n,
           gboolean  active)
{
  return reports->len == n && g_array_index (reports, gboolean, n - 1) == active;
}

/* Either monitor holds deliveries back; each change is reported once, on
 * the owner's context; nothing after stop. */
static void
test_constraints_follow_monitors (void)
{
  g_autoptr(GArray) reports = g_array_new (FALSE, FALSE, sizeof (gboolean));
  g_autoptr(EpConstraints) constraints = ep_constraints_new (1000, on_constraints_changed, reports);

  g_assert_false (ep_constraints_get_active_for_testing (constraints));
  set_metered (TRUE);
  EP_TEST_SPIN_UNTIL (reports->len == 1);
  g_assert_true (report_is (reports, 1, TRUE));
  g_assert_true (ep_constraints_get_active_for_testing (constraints));
  g_assert_cmpstr (ep_constraints_describe (constraints), ==, "a metered network");
  /* Each kind waits the interval (1 s here) after its own last attempt. */
  g_assert_cmpint (ep_constraints_hold_until (constraints, EP_CONSTRAINED_DELIVERY), ==, 0);
  ep_constraints_note_attempt (constraints, EP_CONSTRAINED_DELIVERY, 5000);
  g_assert_cmpint (ep_constraints_hold_until (constraints, EP_CONSTRAINED_DELIVERY), ==, 1005000);
  g_assert_cmpint (ep_constraints_hold_until (constraints, EP_CONSTRAINED_MONITORING), ==, 0);

  set_power_saver (TRUE);
  g_assert_cmpstr (ep_constraints_describe (constraints), ==, "a metered network and power saver");
  set_metered (FALSE);
  g_assert_cmpstr (ep_constraints_describe (constraints), ==, "power saver");
  set_power_saver (FALSE);
  EP_TEST_SPIN_UNTIL (reports->len == 2);
  g_assert_true (report_is (reports, 2, FALSE));
  g_assert_cmpint (ep_constraints_hold_until (constraints, EP_CONSTRAINED_DELIVERY), ==, 0);

  set_power_saver (TRUE);
  EP_TEST_SPIN_UNTIL (reports->len == 3);
  g_assert_true (report_is (reports, 3, TRUE));

  ep_constraints_stop (constraints);
  set_power_saver (FALSE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (reports->len, ==, 3);

  /* A new one reads the monitors' state at once. */
  set_metered (TRUE);
  g_clear_object (&constraints);
  constraints = ep_constraints_new (1000, on_constraints_changed, reports);
  g_assert_true (ep_constraints_get_active_for_testing (constraints));
  set_metered (FALSE);
  EP_TEST_SPIN_UNTIL (reports->len == 4);
  g_assert_true (report_is (reports, 4, FALSE));
}

static void
test_constraints_apply (void)
{
  /* Nothing constrains, or no attempt yet: as wanted. */
  g_assert_cmpint (ep_constraints_apply (FALSE, 5000, 4000, 300000), ==, 5000);
  g_assert_cmpint (ep_constraints_apply (TRUE, 5000, 0, 300000), ==, 5000);
  /* Else no sooner than the interval after the last attempt... */
  g_assert_cmpint (ep_constraints_apply (TRUE, 5000, 4000, 300000), ==, 300004000);
  /* ...and never sooner than wanted. */
  g_assert_cmpint (ep_constraints_apply (TRUE, 900000000, 4000, 300000), ==, 900000000);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("GIO_USE_NETWORK_MONITOR", "ep-test", TRUE);
  g_setenv ("GIO_USE_POWER_PROFILE_MONITOR", "ep-test", TRUE);
  ep_test_init (&argc, &argv);

  /* Registering the point is idempotent; GIO does it again on first use. */
  g_io_extension_point_register (G_NETWORK_MONITOR_EXTENSION_POINT_NAME);
  g_io_extension_point_implement (G_NETWORK_MONITOR_EXTENSION_POINT_NAME,
                                  TEST_TYPE_NETWORK_MONITOR, "ep-test", 1000);
  g_io_extension_point_register (G_POWER_PROFILE_MONITOR_EXTENSION_POINT_NAME);
  g_io_extension_point_implement (G_POWER_PROFILE_MONITOR_EXTENSION_POINT_NAME,
                                  TEST_TYPE_POWER_MONITOR, "ep-test", 1000);

  g_test_add_func ("/ep/network/back-triggers-attempt", test_network_back_triggers_attempt);
  g_test_add_func ("/ep/network/down-holds-attempts", test_network_down_holds_attempts);
  g_test_add_func ("/ep/network/down-flush-tries", test_network_down_flush_tries);
  g_test_add_func ("/ep/network/down-ends-outage", test_network_down_ends_outage);
  g_test_add_func ("/ep/constraints/follow-monitors", test_constraints_follow_monitors);
  g_test_add_func ("/ep/constraints/apply", test_constraints_apply);
  g_test_add_func ("/ep/constraints/metered-holds-deliveries", test_metered_holds_deliveries);
  g_test_add_func ("/ep/constraints/power-saver-holds-monitoring", test_power_saver_holds_monitoring);
  g_test_add_func ("/ep/constraints/metered-close-unaffected", test_metered_close_unaffected);
  g_test_add_func ("/ep/constraints/metered-new-credentials-not-held",
                   test_metered_new_credentials_not_held);

  return g_test_run ();
}
