/* ep-glib.h: the TIDAL Event Platform event producer for GLib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>
#include <gio/gio.h>

#define EP_GLIB_INSIDE
# include "ep-version.h"
# include "ep-error.h"
# include "ep-types.h"
# include "ep-enums.h"
# include "ep-credentials.h"
# include "ep-producer.h"
#undef EP_GLIB_INSIDE
