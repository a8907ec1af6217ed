/* ep-glib.h: the TIDAL Event Platform event producer for GLib
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>
#include <gio/gio.h>

#define EP_GLIB_INSIDE
# include <ep-glib/ep-version.h>
# include <ep-glib/ep-error.h>
# include <ep-glib/ep-types.h>
# include <ep-glib/ep-enums.h>
# include <ep-glib/ep-credentials.h>
# include <ep-glib/ep-producer.h>
#undef EP_GLIB_INSIDE
