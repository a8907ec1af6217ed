// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later

// Where the reference of each namespace ep-glib links to lives.
baseURLs = [
    [ 'GLib', 'https://docs.gtk.org/glib/' ],
    [ 'GObject', 'https://docs.gtk.org/gobject/' ],
    [ 'Gio', 'https://docs.gtk.org/gio/' ],
    [ 'Soup', 'https://libsoup.org/libsoup-3.0/' ],
]
