/* ep-gtk-example.c: a GTK 4 / libadwaita application that sends analytics events with ep-glib
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a GNOME application does with ep-glib, in one file:
 *
 * - the producer is made in GApplication::startup, which runs in the primary
 *   instance only: a second launch of the app hands its activation to the
 *   first one over D-Bus and never opens the queue (which the first instance
 *   holds: a second producer on it fails with EP_ERROR_QUEUE_LOCKED);
 * - an init error means "analytics off": the app runs on without a
 *   producer, never g_error();
 * - a banner (a GtkRevealer: libadwaita 1.2, Debian 12's, has no AdwBanner,
 *   which came in 1.3) is bound to the producer's `outage` property, says
 *   why from `outage-reason` (with `last-error` as its tooltip) and has a
 *   "Retry" button that flushes. Offline is not an outage: the banner stays
 *   hidden while GNetworkMonitor reports no network;
 * - the "Send event" button activates the `app.send-event` action, so the
 *   same code runs when the action is activated from outside
 *   (`gapplication action org.example.EpGtk.C send-event`).
 *
 * Build it with the meson.build next to it, or:
 *
 *   cc -o ep-gtk-example ep-gtk-example.c \
 *     $(pkg-config --cflags --libs libadwaita-1 ep-glib-1.0)
 *   ./ep-gtk-example --consumer http://127.0.0.1:8080    # an ep-consumer
 */
#include <adwaita.h>
#include <ep-glib/ep-glib.h>

#define APP_ID           "org.example.EpGtk.C"
#define DEFAULT_CONSUMER "http://127.0.0.1:8080"

typedef struct {
  char        *consumer;     /* --consumer, or NULL */
  EpProducer  *producer;     /* NULL when analytics are off */
  char        *off_reason;   /* why analytics are off, or NULL */
  GtkLabel    *status;
  GtkRevealer *banner;
  GtkLabel    *banner_label;
  guint        sent;
} App;

static void
update_status (App        *app,
               const char *text)
{
  if (app->status != NULL)
    gtk_label_set_text (app->status, text);
  g_print ("status: %s\n", text);
}

static void
send_event_activated (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  App *app = user_data;
  g_autofree char *payload = NULL;
  g_autofree char *id = NULL;
  g_autofree char *text = NULL;
  GEnumClass *results;
  EpSendResult result;

  if (app->producer == NULL)
    return;   /* the action is disabled then; nothing to do */

  payload = g_strdup_printf ("{\"button\":\"send\",\"count\":%u}", app->sent + 1);
  result = ep_producer_send_event_full (app->producer, "button_pressed",
                                        EP_CONSENT_CATEGORY_NECESSARY,
                                        payload, NULL, &id);
  app->sent++;
  results = g_type_class_ref (EP_TYPE_SEND_RESULT);
  g_print ("sent: %s %s\n", g_enum_get_value (results, result)->value_nick,
           id != NULL ? id : "-");
  g_type_class_unref (results);

  text = g_strdup_printf ("Events sent: %u", app->sent);
  update_status (app, text);
}

static void
flushed (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GApplication *application = user_data;
  g_autoptr(GError) error = NULL;

  /* FALSE is not a failure of the app: the events stay queued and go
   * later. The banner shows the outage meanwhile. */
  if (ep_producer_flush_finish (EP_PRODUCER (source), result, &error))
    g_print ("flush: delivered\n");
  else
    g_print ("flush: not delivered yet: %s\n", error->message);
  g_application_release (application);
}

static void
flush_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  App *app = user_data;
  GApplication *application = g_application_get_default ();

  if (app->producer == NULL)
    return;
  g_application_hold (application);
  ep_producer_flush_async (app->producer, NULL, flushed, application);
}

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  g_application_quit (g_application_get_default ());
}

/* What the banner says, by EpProducer:outage-reason. */
static const char *
banner_text (EpOutageReason reason)
{
  switch (reason)
    {
    case EP_OUTAGE_REASON_UNREACHABLE:
      return "The analytics server cannot be reached. Events are kept and sent later.";
    case EP_OUTAGE_REASON_HTTP_ERROR:
      return "The analytics server reports an error. Events are kept and sent later.";
    case EP_OUTAGE_REASON_CREDENTIALS:
      return "The analytics server refused the credentials. Events are kept until it accepts them.";
    case EP_OUTAGE_REASON_STORAGE:
      return "Analytics events cannot be saved (disk full or failing). New ones are dropped.";
    case EP_OUTAGE_REASON_OFFLINE:
      return "Offline. Analytics events are kept and sent when the network is back.";
    case EP_OUTAGE_REASON_NONE:
    default:
      return "Analytics are not being delivered. They are kept and sent later.";
    }
}

static void
outage_reason_changed (EpProducer *producer,
                       GParamSpec *pspec,
                       App        *app)
{
  EpOutageReason reason = ep_producer_get_outage_reason (producer);
  g_autofree char *detail = ep_producer_dup_last_error (producer);
  GEnumClass *reasons = g_type_class_ref (EP_TYPE_OUTAGE_REASON);

  gtk_label_set_text (app->banner_label, banner_text (reason));
  gtk_widget_set_tooltip_text (GTK_WIDGET (app->banner_label), detail);
  g_print ("reason: %s (%s)\n", g_enum_get_value (reasons, reason)->value_nick,
           detail != NULL ? detail : "no error");
  g_type_class_unref (reasons);
}

static void
banner_revealed (GtkRevealer *banner,
                 GParamSpec  *pspec,
                 App         *app)
{
  g_print ("banner: %s\n", gtk_revealer_get_reveal_child (banner) ? "shown" : "hidden");
}

static void
on_startup (GApplication *application,
            App          *app)
{
  static const GActionEntry entries[] = {
    { .name = "send-event", .activate = send_event_activated },
    { .name = "flush", .activate = flush_activated },
    { .name = "quit", .activate = quit_activated },
  };
  const char *base = app->consumer != NULL ? app->consumer : DEFAULT_CONSUMER;
  g_autofree char *uri = g_strconcat (base, "/api/event-batch", NULL);
  g_autofree char *public_uri = g_strconcat (base, "/api/public/event-batch", NULL);
  g_autoptr(GError) error = NULL;
  const char *quit_accels[] = { "<Control>q", NULL };

  /* Startup runs once, in the primary instance only. */
  app->producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
                                  "app-name", "ep-gtk-example-c",
                                  "app-version", "1.0",
                                  "consumer-uri", uri,
                                  "public-consumer-uri", public_uri,
                                  NULL);
  if (app->producer == NULL)
    {
      /* Analytics off; the app itself works as before. */
      app->off_reason = g_strdup (error->message);
      g_print ("analytics off: %s\n", error->message);
    }
  else
    {
      g_print ("analytics on: queue %s\n", ep_producer_get_queue_dir (app->producer));
    }

  g_action_map_add_action_entries (G_ACTION_MAP (application), entries,
                                   G_N_ELEMENTS (entries), app);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (g_action_map_lookup_action (G_ACTION_MAP (application),
                                                                            "send-event")),
                               app->producer != NULL);
  gtk_application_set_accels_for_action (GTK_APPLICATION (application), "app.quit", quit_accels);
}

static GtkWidget *
make_banner (App *app)
{
  GtkWidget *revealer = gtk_revealer_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *label = gtk_label_new (banner_text (EP_OUTAGE_REASON_NONE));
  GtkWidget *retry = gtk_button_new_with_label ("Retry");

  gtk_widget_add_css_class (box, "toolbar");
  gtk_widget_add_css_class (label, "warning");
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (retry), "app.flush");
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), retry);
  gtk_revealer_set_child (GTK_REVEALER (revealer), box);
  gtk_revealer_set_transition_type (GTK_REVEALER (revealer),
                                    GTK_REVEALER_TRANSITION_TYPE_SLIDE_DOWN);

  app->banner = GTK_REVEALER (revealer);
  app->banner_label = GTK_LABEL (label);
  g_signal_connect (revealer, "notify::reveal-child", G_CALLBACK (banner_revealed), app);
  if (app->producer != NULL)
    {
      /* outage-reason is notified before outage changes, so the text is
       * right when the banner slides in. */
      g_signal_connect (app->producer, "notify::outage-reason",
                        G_CALLBACK (outage_reason_changed), app);
      outage_reason_changed (app->producer, NULL, app);
      g_object_bind_property (app->producer, "outage", revealer, "reveal-child",
                              G_BINDING_SYNC_CREATE);
    }
  return revealer;
}

static void
on_activate (GApplication *application,
             App          *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));
  GtkWidget *content, *page, *button, *status;

  if (window != NULL)
    {
      /* A second launch of the app ends up here, in the first instance. */
      gtk_window_present (window);
      g_print ("window: presented again\n");
      return;
    }

  window = GTK_WINDOW (adw_application_window_new (GTK_APPLICATION (application)));
  gtk_window_set_title (window, "ep-glib GTK example (C)");
  gtk_window_set_default_size (window, 480, 300);

  content = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append (GTK_BOX (content), adw_header_bar_new ());
  gtk_box_append (GTK_BOX (content), make_banner (app));

  page = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);
  gtk_widget_set_vexpand (page, TRUE);
  gtk_widget_set_valign (page, GTK_ALIGN_CENTER);
  gtk_widget_set_halign (page, GTK_ALIGN_CENTER);
  status = gtk_label_new (app->producer != NULL ? "No events sent yet" : NULL);
  if (app->producer == NULL)
    {
      g_autofree char *text = g_strdup_printf ("Analytics off: %s", app->off_reason);
      gtk_label_set_text (GTK_LABEL (status), text);
      gtk_label_set_wrap (GTK_LABEL (status), TRUE);
    }
  app->status = GTK_LABEL (status);
  button = gtk_button_new_with_label ("Send event");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "app.send-event");
  gtk_widget_add_css_class (button, "suggested-action");
  gtk_widget_add_css_class (button, "pill");
  gtk_box_append (GTK_BOX (page), status);
  gtk_box_append (GTK_BOX (page), button);
  gtk_box_append (GTK_BOX (content), page);

  adw_application_window_set_content (ADW_APPLICATION_WINDOW (window), content);
  gtk_window_present (window);
  g_print ("window: shown\n");
}

static void
on_shutdown (GApplication *application,
             App          *app)
{
  /* The queued events stay on disk; the next run delivers them. */
  g_clear_object (&app->producer);
}

static int
on_handle_local_options (GApplication *application,
                         GVariantDict *options,
                         App          *app)
{
  g_variant_dict_lookup (options, "consumer", "s", &app->consumer);
  return -1;   /* go on: register, startup (primary only), activate */
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(AdwApplication) application = adw_application_new (APP_ID, G_APPLICATION_DEFAULT_FLAGS);
  App app = { 0 };
  int status;

  g_application_add_main_option (G_APPLICATION (application), "consumer", 0, 0,
                                 G_OPTION_ARG_STRING,
                                 "The consumer's base URL (default " DEFAULT_CONSUMER ")", "URL");
  g_signal_connect (application, "handle-local-options", G_CALLBACK (on_handle_local_options), &app);
  g_signal_connect (application, "startup", G_CALLBACK (on_startup), &app);
  g_signal_connect (application, "activate", G_CALLBACK (on_activate), &app);
  g_signal_connect (application, "shutdown", G_CALLBACK (on_shutdown), &app);

  status = g_application_run (G_APPLICATION (application), argc, argv);

  g_free (app.consumer);
  g_free (app.off_reason);
  return status;
}
