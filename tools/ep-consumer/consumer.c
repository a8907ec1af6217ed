/* consumer.c: ep-consumer's server: set-up, signals, the main loop, tear-down
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One SoupServer on 127.0.0.1 (a development consumer has no business on
 * other interfaces; a gateway names its address with --listen), in the
 * default main context. Start-up is ordered
 * for scripts: the output is opened, the socket bound, the port file
 * written, and only then the first line "ep-consumer listening on URL"
 * printed on standard error, so whoever reads that line can connect at
 * once. Standard output carries nothing but events (without --output),
 * so that `ep-consumer | jq` works.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "ep-consumer.h"

static gboolean
consumer_open_output (Consumer  *self,
                      GError   **error)
{
  const char *path = self->options->output;

  if (path == NULL || g_str_equal (path, "-"))
    {
      self->output = stdout;
      self->output_name = g_strdup ("standard output");
      return TRUE;
    }

  self->output = g_fopen (path, "a");
  if (self->output == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not open the output file %s for appending: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  self->output_name = g_strdup (path);

  return TRUE;
}

/* --reuse-port: a socket of our own with SO_REUSEPORT, so that several
 * instances bind one port and the kernel spreads the connections. Bound
 * here, not by g_socket_bind (), which turns SO_REUSEPORT off on TCP. */
static gboolean
consumer_listen_reuse_port (Consumer       *self,
                            GInetAddress   *address,
                            GError        **error)
{
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (address,
                                                                        self->options->port);
  g_autoptr(GSocket) listener = NULL;
  struct sockaddr_storage native;
  int fd, on = 1;

  if (!g_socket_address_to_native (socket_address, &native, sizeof native, error))
    return FALSE;
  fd = socket (native.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0
      || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0
      || setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0
      || bind (fd, (struct sockaddr *) &native,
               g_socket_address_get_native_size (socket_address)) != 0)
    {
      int saved_errno = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "SO_REUSEPORT socket: %s", g_strerror (saved_errno));
      return FALSE;
    }
  listener = g_socket_new_from_fd (fd, error);
  if (listener == NULL)
    {
      close (fd);
      return FALSE;
    }

  return g_socket_listen (listener, error)
         && soup_server_listen_socket (self->server, listener, 0, error);
}

static gboolean
consumer_listen_address (Consumer  *self,
                         GError   **error)
{
  const char *listen = self->options->listen;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (listen);
  g_autoptr(GSocketAddress) socket_address = NULL;

  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "--listen takes an IP address, not %s", listen);
      return FALSE;
    }
  if (self->options->reuse_port)
    return consumer_listen_reuse_port (self, address, error);
  socket_address = g_inet_socket_address_new (address, self->options->port);

  return soup_server_listen (self->server, socket_address, 0, error);
}

static guint
consumer_listen (Consumer  *self,
                 GError   **error)
{
  g_autoptr(GError) listen_error = NULL;
  GSList *uris;
  guint port;

  if (!consumer_listen_address (self, &listen_error))
    {
      g_set_error (error, listen_error->domain, listen_error->code,
                   "Could not listen on %s port %d: %s", self->options->listen,
                   self->options->port, listen_error->message);
      return 0;
    }
  consumer_limits_listening (self);
  uris = soup_server_get_uris (self->server);
  port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  return port;
}

static gboolean
consumer_announce (Consumer  *self,
                   guint      port,
                   GError   **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  /* The port file first: whoever sees the URL line may look for it */
  if (self->options->port_file != NULL
      && !g_file_set_contents (self->options->port_file, text, -1, error))
    return FALSE;

  const char *host = self->options->listen;

  fprintf (stderr, "ep-consumer listening on http://%s:%u\n", host, port);
  fflush (stderr);
  if (!self->options->quiet)
    fprintf (stderr, "ep-consumer: endpoints http://%s:%u" ENDPOINT_PRIVATE
             " and http://%s:%u" ENDPOINT_PUBLIC "; control at "
             "http://%s:%u/control/{fail,hang,stats}; sink: %s\n"
             "ep-consumer: inspector page http://%s:%u/ (JSON: /api/events)\n",
             host, port, host, port, host, port, self->sink->name, host, port);

  return TRUE;
}

gboolean
consumer_start (Consumer  *self,
                GError   **error)
{
  guint port;

  if (self->options->sink != NULL)
    {
#ifdef HAVE_NATS
      if ((self->sink = sink_nats_new (self, error)) == NULL)
        return FALSE;
#else
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "--sink needs the NATS sink, which this ep-consumer was built "
                   "without (meson feature \"nats\", libnats-dev)");
      return FALSE;
#endif
    }
  else
    self->sink = sink_file_new (self);

  return (self->options->sink != NULL || consumer_open_output (self, error))
         && (port = consumer_listen (self, error)) != 0
         && consumer_announce (self, port, error);
}

static void
handle_default (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  Consumer *self = user_data;
  gboolean root = g_str_equal (path, "/");

  /* POST / is SQS (AWS SDKs post there); GET / is the inspector page */
  if (root && g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_POST))
    handle_root (self, msg);
  else if (!root || !inspector_handle_root (self->inspector, msg))
    handle_not_found (self, msg, path);
}

static void
consumer_add_handlers (Consumer *self)
{
  soup_server_add_handler (self->server, ENDPOINT_PRIVATE, handle_event_batch, self, NULL);
  soup_server_add_handler (self->server, ENDPOINT_PUBLIC, handle_event_batch, self, NULL);
  soup_server_add_handler (self->server, "/control", handle_control, self, NULL);
  soup_server_add_handler (self->server, "/health", handle_health, self, NULL);
  /* The inspector: /api/ but the two batch endpoints above, which libsoup
   * matches first (the longest path wins) */
  soup_server_add_handler (self->server, "/api", inspector_handle_api, self, NULL);
  soup_server_add_handler (self->server, "/inspector", inspector_handle_asset, self, NULL);
  soup_server_add_handler (self->server, NULL, handle_default, self, NULL);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Consumer *self = user_data;

  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

Consumer *
consumer_new (Options *options)
{
  Consumer *self = g_new0 (Consumer, 1);

  self->options = options;
  self->server = soup_server_new ("server-header", "ep-consumer ", NULL);
  self->loop = g_main_loop_new (NULL, FALSE);
  self->rand = options->seed >= 0 ? g_rand_new_with_seed ((guint32) options->seed)
                                  : g_rand_new ();
  self->held = held_replies_new ();
  self->warned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->fail_all_status = options->fail_status;
  self->fail_all_retry_after = options->retry_after;
  self->latency_ms = options->latency_ms;
  self->inspector = inspector_new (self, options->inspector_events);
  self->started_us = self->rate_us = g_get_monotonic_time ();
  self->status_line = !options->quiet && isatty (STDERR_FILENO);
  consumer_add_handlers (self);
  consumer_limits_init (self);
  /* Before the URL is announced, so that no signal can arrive unhandled */
  self->signal_ids[0] = g_unix_signal_add (SIGINT, on_quit_signal, self);
  self->signal_ids[1] = g_unix_signal_add (SIGTERM, on_quit_signal, self);
  self->signal_ids[2] = g_unix_signal_add (SIGUSR1, on_toggle_signal, self);

  return self;
}

void
consumer_free (Consumer *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->signal_ids); i++)
    g_clear_handle_id (&self->signal_ids[i], g_source_remove);
  g_clear_handle_id (&self->status_id, g_source_remove);
  consumer_limits_clear (self);
  soup_server_disconnect (self->server);
  if (self->sink != NULL)
    self->sink->free (self->sink);
  g_ptr_array_unref (self->held);
  g_clear_object (&self->server);
  g_main_loop_unref (self->loop);
  g_rand_free (self->rand);
  g_hash_table_unref (self->warned);
  inspector_free (self->inspector);
  if (self->output != NULL && self->output != stdout)
    fclose (self->output);
  g_free (self->output_name);
  g_free (self);
}

/* Until SIGINT or SIGTERM; then the summary, and the port file goes */
void
consumer_run (Consumer *self)
{
  if (self->status_line)
    self->status_id = g_timeout_add (STATUS_INTERVAL_MS, status_tick, self);

  g_main_loop_run (self->loop);

  consumer_print_summary (self);
  if (self->options->port_file != NULL)
    g_unlink (self->options->port_file);
}
